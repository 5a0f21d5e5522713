"""The VAE style encoder."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base_network import BaseNetwork
from .normalization import get_nonspade_norm_layer
from .registry import register

LAYER_WIDTHS = (1, 2, 4, 8, 8, 8)  # in multiples of ngf
FINAL_SIZE = 4


@register('encoder', 'conv')
class ConvEncoder(BaseNetwork):
    """Stride-2 convs down to a 4x4 map, then linear heads for the mean and log-variance of z."""

    def __init__(self,
                 ngf: int = 64,                         # width: the first layer has ngf channels
                 crop_size: int = 256,                  # image width (the sixth layer is there from 256 on)
                 output_nc: int = 3,                    # image channels
                 z_dim: int = 256,                      # size of the style code
                 norm_E: str = 'spectralinstance',      # [spectral]{instance,batch,sync_batch,none}
                 sync_bn: bool = False):                # SyncBatchNorm for 'sync_batch' (training on GPUs)
        super().__init__()
        nf = ngf
        norm_layer = get_nonspade_norm_layer(norm_E, sync_bn)
        # The released code has the sixth layer only for crops of 256 or more.
        self.num_layers = 6 if crop_size >= 256 else 5
        # It always resizes to 256, which breaks smaller crops; we resize so the last layer lands on 4x4.
        self.input_size = FINAL_SIZE * 2 ** self.num_layers
        in_channels = output_nc
        for index, width in enumerate(LAYER_WIDTHS[:self.num_layers], start=1):
            self.add_module(f'layer{index}', norm_layer(nn.Conv2d(in_channels, width * nf, 3, stride=2, padding=1)))
            in_channels = width * nf
        self.fc_mu = nn.Linear(8 * nf * FINAL_SIZE ** 2, z_dim)
        self.fc_var = nn.Linear(8 * nf * FINAL_SIZE ** 2, z_dim)
        self.actvn = nn.LeakyReLU(0.2, False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode='bilinear')
        for index in range(1, self.num_layers + 1):
            x = getattr(self, f'layer{index}')(x if index == 1 else self.actvn(x))
        x = self.actvn(x).flatten(1)
        return self.fc_mu(x), self.fc_var(x)
