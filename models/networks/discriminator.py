"""The feature-pyramid semantics-embedding discriminator (`--netD fpse`)."""
import argparse
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base_network import BaseNetwork
from .normalization import get_nonspade_norm_layer

# Output widths of the bottom-up stages, in multiples of ndf.
ENCODER_WIDTHS = (1, 2, 4, 8, 8)
# Levels that predict real/fake and semantic alignment (stride 4, 8 and 16).
OUTPUT_LEVELS = (2, 3, 4)


class FPSEDiscriminator(BaseNetwork):
    """Bottom-up stride-2 encoder, top-down pathway with lateral connections, and at three scales a patch
    real/fake logit plus the inner product of its features with an embedding of the label map."""

    def __init__(self, opt: argparse.Namespace):
        super().__init__()
        nf = opt.ndf
        norm_layer = get_nonspade_norm_layer(opt, opt.norm_D)

        def conv_unit(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)
            return nn.Sequential(norm_layer(conv), nn.LeakyReLU(0.2, True))

        in_channels = opt.output_nc
        for level, width in enumerate(ENCODER_WIDTHS, start=1):
            self.add_module(f'enc{level}', conv_unit(in_channels, width * nf, 3, stride=2))
            in_channels = width * nf
        for level in range(2, len(ENCODER_WIDTHS) + 1):
            self.add_module(f'lat{level}', conv_unit(ENCODER_WIDTHS[level - 1] * nf, 4 * nf, 1))
        for level in OUTPUT_LEVELS:
            self.add_module(f'final{level}', conv_unit(4 * nf, 2 * nf, 3))

        self.up = nn.Upsample(scale_factor=2, mode='bilinear')
        self.tf = nn.Conv2d(2 * nf, 1, kernel_size=1)
        self.seg = nn.Conv2d(2 * nf, 2 * nf, kernel_size=1)
        self.embedding = nn.Conv2d(opt.semantic_nc, 2 * nf, kernel_size=1)

    def forward(self, images: torch.Tensor, segmap: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Returns (features for feature matching, [logits at stride 4, 8, 16])."""
        bottom_up = {}
        x = images
        for level in range(1, len(ENCODER_WIDTHS) + 1):
            x = getattr(self, f'enc{level}')(x)
            bottom_up[level] = x

        top = len(ENCODER_WIDTHS)
        top_down = {top: self.lat5(bottom_up[top])}
        for level in range(top - 1, 1, -1):
            top_down[level] = self.up(top_down[level + 1]) + getattr(self, f'lat{level}')(bottom_up[level])

        # The label embedding is pooled to stride 2, then once more for each output level.
        embedding = F.avg_pool2d(self.embedding(segmap), kernel_size=2, stride=2)
        logits = []
        for level in OUTPUT_LEVELS:
            embedding = F.avg_pool2d(embedding, kernel_size=2, stride=2)
            features = getattr(self, f'final{level}')(top_down[level])
            alignment = (embedding * self.seg(features)).sum(dim=1, keepdim=True)
            logits.append(self.tf(features) + alignment)

        return [bottom_up[level] for level in range(2, top + 1)], logits
