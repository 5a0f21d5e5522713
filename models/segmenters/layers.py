"""Pieces the segmenters share: the ResNet bottleneck of CSAIL's and DRN's code, input normalisation, and the
PIL resizes their data loaders apply to 8-bit images."""
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from PIL import Image


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (carries the stride and dilation) -> 1x1, x4 channels, with an optional projection shortcut.
    Attribute names are those of CSAIL's and fyu/drn's weight files."""
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def bottleneck_stage(in_channels: int, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """`blocks` bottlenecks; the first one strides and projects the shortcut when the shape changes."""
    out_channels = planes * Bottleneck.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(out_channels))
    layers = [Bottleneck(in_channels, planes, stride, dilation, downsample)]
    layers += [Bottleneck(out_channels, planes, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1) -> nn.Sequential:
    """Conv (no bias) -> BN -> ReLU as an nn.Sequential: keys `0.weight`, `1.*`."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                                   padding=dilation * (kernel_size // 2),
                                   dilation=dilation, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class Normalize(nn.Module):
    """Our images (RGB in [-1, 1]) -> a segmenter's input: RGB in [0, 1] minus `mean`, over `std`."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        # Not in the state_dict: the published files hold no such tensors. Kept in float64 and rounded to the
        # images' dtype on use, so a float64 run is exact.
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return ((images + 1) / 2 - self.mean.to(images.dtype)) / self.std.to(images.dtype)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8, the pixels of the PNG files the images come from."""
    pixels = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def pil_resize_images(images: torch.Tensor, size: Tuple[int, int], method: int) -> torch.Tensor:
    """Resize as the segmenters' loaders do: PIL on the 8-bit image. size is (width, height); result in [-1, 1]."""
    resized = [np.array(Image.fromarray(image).resize(size, method)) for image in to_uint8(images)]
    batch = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).to(images.device, images.dtype)
    return batch / 127.5 - 1
