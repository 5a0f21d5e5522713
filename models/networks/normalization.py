"""Normalisation layers: spectral norm + instance/batch/sync-batch, and SPADE."""
import re
from typing import Callable, Sequence, Type

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from util.errors import UserError
from .predictor import Predictor

PLAIN_NORMS = ('instance', 'batch', 'sync_batch', 'none', '')


def batch_norm_class(sync: bool) -> Type[nn.Module]:
    """SyncBatchNorm when training distributed on GPUs (`sync`), BatchNorm2d otherwise."""
    return nn.SyncBatchNorm if sync else nn.BatchNorm2d


def get_nonspade_norm_layer(norm_type: str = 'instance', sync_bn: bool = False) -> Callable[[nn.Module], nn.Module]:
    """A function that wraps a conv layer in optional spectral norm followed by a normalisation layer.

    `norm_type` is e.g. 'spectralinstance', 'spectralsync_batch', 'batch', 'spectralnone'; `sync_bn` makes
    'sync_batch' a SyncBatchNorm (training distributed on GPUs), else it is a BatchNorm2d.
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
            norm = batch_norm_class(sync_bn)(channels, affine=True)
        else:
            norm = nn.BatchNorm2d(channels, affine=True)
        return nn.Sequential(layer, norm)

    return add_norm_layer


class SPADE(nn.Module):
    """Parameter-free normalisation, then a scale and bias predicted per pixel from the label map."""

    def __init__(self,
                 norm_nc: int,                                         # channels normalised
                 label_nc: int,                                        # channels of the label map
                 param_free_norm: Type[nn.Module] = nn.BatchNorm2d,    # BatchNorm2d, SyncBatchNorm or InstanceNorm2d
                 kernel_size: int = 3,                                 # of the three convolutions
                 hidden: int = 128,                                    # width of the shared layer (SPADE: fixed)
                 norm_name: str = 'param_free_norm'):                  # its checkpoint name (OASIS: 'first_norm')
        super().__init__()
        self.norm_name = norm_name
        self.add_module(norm_name, param_free_norm(norm_nc, affine=False))
        padding = kernel_size // 2
        self.mlp_shared = Predictor(nn.Conv2d(label_nc, hidden, kernel_size, padding=padding), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size, padding=padding)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size, padding=padding)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        return self.modulate(x, self.mlp_shared(resize_nearest(segmap, x.shape[2:])))

    def modulate(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """The normalised x, scaled and shifted by maps predicted from `features` (mlp_shared's output)."""
        return getattr(self, self.norm_name)(x) * (1 + self.mlp_gamma(features)) + self.mlp_beta(features)


def spade_from_config(config: str, norm_nc: int, label_nc: int, sync_bn: bool,
                      norm_name: str = 'param_free_norm') -> SPADE:
    """A SPADE layer from SPADE's `--norm_G` text without 'spectral': 'spade' + instance|batch|syncbatch +
    kernel size, e.g. 'spadesyncbatch3x3'. ('syncbatch' is SyncBatchNorm only when training on several GPUs, as
    SPADE's own synchronised batch norm computes plain batch norm on one device.)"""
    parsed = re.fullmatch(r'spade(instance|batch|syncbatch)(\d)x\d', config)
    if parsed is None:
        raise UserError(f"--norm_G '{config}' is not a SPADE normalisation: use [spectral]spade followed by instance, "
                        "batch or syncbatch and the kernel size, e.g. spectralspadesyncbatch3x3")
    norms = {'instance': nn.InstanceNorm2d, 'batch': nn.BatchNorm2d, 'syncbatch': batch_norm_class(sync_bn)}
    return SPADE(norm_nc, label_nc, norms[parsed.group(1)], kernel_size=int(parsed.group(2)), norm_name=norm_name)


def resize_nearest(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resize that skips the copy when x already has that size."""
    return x if tuple(x.shape[2:]) == tuple(size) else F.interpolate(x, size=tuple(size), mode='nearest')
