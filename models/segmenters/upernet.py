"""UPerNet on ResNet-101 for ADE20K, as CSAILVision/semantic-segmentation-pytorch builds `ade20k-resnet101-upernet`,
so that its `encoder_epoch_50.pth` and `decoder_epoch_50.pth` load with strict=True."""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from .layers import Normalize, bottleneck_stage, conv_bn_relu, pil_resize_images

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# The repository's evaluation (config/ade20k-resnet101-upernet.yaml): short sides, long-side cap, size multiple.
TEST_SHORT_SIDES, TEST_MAX_SIDE, TEST_MULTIPLE = (300, 375, 450, 525, 600), 1000, 32


class ResNetEncoder(nn.Module):
    """CSAIL's own ResNet-101 (a stem of three 3x3 convs, stride on the bottleneck's 3x3), without pool and fc;
    returns the four stages' features."""

    def __init__(self, blocks: Sequence[int] = (3, 4, 23, 3)):
        super().__init__()
        stem = [(3, 64, 2), (64, 64, 1), (64, 128, 1)]
        for i, (cin, cout, stride) in enumerate(stem, start=1):
            setattr(self, f'conv{i}', nn.Conv2d(cin, cout, 3, stride, 1, bias=False))
            setattr(self, f'bn{i}', nn.BatchNorm2d(cout))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = 128
        for i, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
            setattr(self, f'layer{i}', bottleneck_stage(channels, planes, count, stride=1 if i == 1 else 2))
            channels = planes * 4

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        for i in range(1, 4):
            x = F.relu(getattr(self, f'bn{i}')(getattr(self, f'conv{i}')(x)))
        x = self.maxpool(x)
        features = []
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
            features.append(x)
        return features


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


class UPerNetDecoder(nn.Module):
    """Pyramid pooling on the last stage, an FPN over the others, all levels fused at stride 4 -> logits."""

    def __init__(self, num_classes: int = 150, fc_dim: int = 2048, fpn_dim: int = 512,
                 pool_scales: Sequence[int] = (1, 2, 3, 6), fpn_in_channels: Sequence[int] = (256, 512, 1024, 2048)):
        super().__init__()
        self.pool_scales = tuple(pool_scales)
        self.ppm_conv = nn.ModuleList(conv_bn_relu(fc_dim, 512, 1) for _ in pool_scales)
        self.ppm_last_conv = conv_bn_relu(fc_dim + len(pool_scales) * 512, fpn_dim, 3)
        self.fpn_in = nn.ModuleList(conv_bn_relu(c, fpn_dim, 1) for c in fpn_in_channels[:-1])
        # Each smoothing conv sits in a one-element Sequential in the public code: keys `fpn_out.<i>.0.*`.
        self.fpn_out = nn.ModuleList(nn.Sequential(conv_bn_relu(fpn_dim, fpn_dim, 3)) for _ in fpn_in_channels[:-1])
        self.conv_last = nn.Sequential(conv_bn_relu(len(fpn_in_channels) * fpn_dim, fpn_dim, 3),
                                       nn.Conv2d(fpn_dim, num_classes, 1))

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        top = features[-1]
        pooled = [conv(_resize(F.adaptive_avg_pool2d(top, scale), top.shape[2:]))
                  for scale, conv in zip(self.pool_scales, self.ppm_conv)]
        merged = self.ppm_last_conv(torch.cat([top] + pooled, 1))
        levels = [merged]
        for i in reversed(range(len(features) - 1)):
            lateral = self.fpn_in[i](features[i])
            merged = lateral + _resize(merged, lateral.shape[2:])  # the unsmoothed sum feeds the next level
            levels.append(self.fpn_out[i](merged))
        levels.reverse()
        size = levels[0].shape[2:]
        return self.conv_last(torch.cat([levels[0]] + [_resize(level, size) for level in levels[1:]], 1))


def csail_test_size(height: int, width: int, short_side: int) -> tuple:
    """(width, height) an image is resized to for one test scale, as the repository's ValDataset computes it."""
    scale = min(short_side / min(height, width), TEST_MAX_SIDE / max(height, width))
    round_up = lambda x: int(math.ceil(x / TEST_MULTIPLE)) * TEST_MULTIPLE
    return round_up(int(width * scale)), round_up(int(height * scale))


class UPerNetADE20K(nn.Module):
    """Images (N, 3, H, W, RGB in [-1, 1]) -> class probabilities (N, 150, H, W) for ADE20K's classes 1..150 (channel
    c is class c + 1), as the repository's inference: softmax of the logits upsampled to the output size. With
    `test_short_sides`, the image is resized (PIL bilinear) to each of CSAIL's test scales and the probabilities are
    averaged, as its eval.py."""

    def __init__(self, num_classes: int = 150, test_short_sides: Optional[Sequence[int]] = None):
        super().__init__()
        self.num_classes = num_classes
        self.test_short_sides = tuple(test_short_sides) if test_short_sides else None
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.encoder = ResNetEncoder()
        self.decoder = UPerNetDecoder(num_classes)

    def probabilities(self, images: torch.Tensor, size) -> torch.Tensor:
        logits = self.decoder(self.encoder(self.normalize(images)))
        return F.softmax(_resize(logits, size), dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = images.shape[2:]
        if not self.test_short_sides:
            return self.probabilities(images, size)
        total = 0
        for short_side in self.test_short_sides:
            resized = pil_resize_images(images, csail_test_size(*size, short_side), Image.BILINEAR)
            total = total + self.probabilities(resized, size) / len(self.test_short_sides)
        return total
