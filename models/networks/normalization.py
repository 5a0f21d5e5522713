"""Normalisation layers: spectral norm + instance/batch/sync-batch, and SPADE."""
import argparse
from typing import Callable, Sequence, Type

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from util.errors import UserError

PLAIN_NORMS = ('instance', 'batch', 'sync_batch', 'none', '')


def batch_norm_class(sync: bool) -> Type[nn.Module]:
    """SyncBatchNorm when training distributed on GPUs (`opt.sync_bn`), BatchNorm2d otherwise."""
    return nn.SyncBatchNorm if sync else nn.BatchNorm2d


def get_nonspade_norm_layer(opt: argparse.Namespace, norm_type: str = 'instance') -> Callable[[nn.Module], nn.Module]:
    """A function that wraps a conv layer in optional spectral norm followed by a normalisation layer.

    `norm_type` is e.g. 'spectralinstance', 'spectralsync_batch', 'batch', 'spectralnone'.
    """
    use_spectral = norm_type.startswith('spectral')
    subnorm = norm_type[len('spectral'):] if use_spectral else norm_type
    if subnorm not in PLAIN_NORMS:
        raise UserError(f"unknown normalisation '{norm_type}' (for --norm_G/--norm_D/--norm_E): "
                        f"use [spectral] followed by one of instance, batch, sync_batch, none")

    def add_norm_layer(layer: nn.Module) -> nn.Module:
        if use_spectral:
            layer = spectral_norm(layer)
        if subnorm in ('none', ''):
            return layer
        # The conv bias is redundant before a normalisation; the released checkpoints have none.
        delattr(layer, 'bias')
        layer.register_parameter('bias', None)
        channels = layer.out_channels
        if subnorm == 'instance':
            norm = nn.InstanceNorm2d(channels, affine=False)
        elif subnorm == 'sync_batch':
            norm = batch_norm_class(opt.sync_bn)(channels, affine=True)
        else:
            norm = nn.BatchNorm2d(channels, affine=True)
        return nn.Sequential(layer, norm)

    return add_norm_layer


class SPADE(nn.Module):
    """Parameter-free batch norm, then a scale and bias predicted per pixel from the label map."""

    def __init__(self, norm_nc: int, label_nc: int, batch_norm: Type[nn.Module] = nn.BatchNorm2d, hidden: int = 128):
        super().__init__()
        self.param_free_norm = batch_norm(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        return self.modulate(x, self.mlp_shared(resize_nearest(segmap, x.shape[2:])))

    def modulate(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """The normalised x, scaled and shifted by maps predicted from `features` (mlp_shared's output)."""
        return self.param_free_norm(x) * (1 + self.mlp_gamma(features)) + self.mlp_beta(features)


def resize_nearest(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resize that skips the copy when x already has that size."""
    return x if tuple(x.shape[2:]) == tuple(size) else F.interpolate(x, size=tuple(size), mode='nearest')
