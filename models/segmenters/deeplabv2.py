"""DeepLabV2 (ResNet-101, ASPP, multi-scale max) for COCO-Stuff, as kazuto1011/deeplab-pytorch builds it, so that
its `deeplabv2_resnet101_msc-cocostuff164k-100000.pth` loads with strict=True (keys `base.layer*`, `base.aspp.c*`)."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

# Caffe's BGR channel means in 0..255 (the repository's config); no division by a std.
MEAN_BGR = (104.008, 116.669, 122.675)


class ConvBN(nn.Sequential):
    """Conv (no bias) -> BN (-> ReLU): keys `conv.weight`, `bn.*`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1,
                 relu: bool = True):
        super().__init__()
        self.add_module('conv', nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                                          padding=dilation * (kernel_size // 2), dilation=dilation, bias=False))
        self.add_module('bn', nn.BatchNorm2d(out_channels, eps=1e-5))
        if relu:
            self.add_module('relu', nn.ReLU())


class CaffeBottleneck(nn.Module):
    """MSRA's bottleneck: the stride is on the first 1x1 conv (not the 3x3, as in torchvision)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dilation: int, project: bool):
        super().__init__()
        mid = out_channels // 4
        self.reduce = ConvBN(in_channels, mid, 1, stride)
        self.conv3x3 = ConvBN(mid, mid, 3, 1, dilation)
        self.increase = ConvBN(mid, out_channels, 1, relu=False)
        self.shortcut = ConvBN(in_channels, out_channels, 1, stride, relu=False) if project else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.increase(self.conv3x3(self.reduce(x))) + self.shortcut(x))


class ResidualLayer(nn.Sequential):
    """`block1` .. `blockN`; only the first strides and has a projection shortcut."""

    def __init__(self, blocks: int, in_channels: int, out_channels: int, stride: int, dilation: int):
        super().__init__()
        for i in range(blocks):
            self.add_module(f'block{i + 1}', CaffeBottleneck(in_channels if i == 0 else out_channels, out_channels,
                                                             stride if i == 0 else 1, dilation, project=i == 0))


class Stem(nn.Sequential):
    def __init__(self, out_channels: int):
        super().__init__()
        self.add_module('conv1', ConvBN(3, out_channels, 7, 2))
        # ceil_mode: the Caffe original's pooling, which torchvision's ResNet does not use.
        self.add_module('pool', nn.MaxPool2d(3, 2, 1, ceil_mode=True))


class ASPP(nn.Module):
    """Parallel dilated 3x3 convolutions straight to class logits, summed."""

    def __init__(self, in_channels: int, num_classes: int, rates: Sequence[int]):
        super().__init__()
        for i, rate in enumerate(rates):
            self.add_module(f'c{i}', nn.Conv2d(in_channels, num_classes, 3, padding=rate, dilation=rate, bias=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(branch(x) for branch in self.children())


class DeepLabV2(nn.Sequential):
    """Dilated ResNet (output stride 8) + ASPP -> logits."""

    def __init__(self, num_classes: int, blocks: Sequence[int] = (3, 4, 23, 3), rates: Sequence[int] = (6, 12, 18, 24)):
        super().__init__()
        self.add_module('layer1', Stem(64))
        self.add_module('layer2', ResidualLayer(blocks[0], 64, 256, stride=1, dilation=1))
        self.add_module('layer3', ResidualLayer(blocks[1], 256, 512, stride=2, dilation=1))
        self.add_module('layer4', ResidualLayer(blocks[2], 512, 1024, stride=1, dilation=2))
        self.add_module('layer5', ResidualLayer(blocks[3], 1024, 2048, stride=1, dilation=4))
        self.add_module('aspp', ASPP(2048, num_classes, rates))


class DeepLabV2COCOStuff(nn.Module):
    """Images (N, 3, H, W, RGB in [-1, 1]) -> class probabilities (N, 182, H, W), as the repository's `main.py
    test`: logits of the multi-scale model, upsampled bilinearly to the input size, softmax."""

    def __init__(self, num_classes: int = 182, scales: Sequence[float] = (0.5, 0.75)):
        super().__init__()
        self.num_classes = num_classes
        self.scales = tuple(scales)
        self.base = DeepLabV2(num_classes)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The multi-scale logits at 1/8 of the input: the element-wise max over the scales."""
        bgr = (images.flip(1) + 1) * 127.5 - torch.tensor(MEAN_BGR, dtype=images.dtype,
                                                          device=images.device).view(1, 3, 1, 1)
        full = self.base(bgr)
        size = full.shape[2:]
        pyramid = [full]
        for scale in self.scales:
            # scale_factor, not size: the public code's rounding of the scaled input.
            scaled = F.interpolate(bgr, scale_factor=scale, mode='bilinear', align_corners=False)
            pyramid.append(F.interpolate(self.base(scaled), size=size, mode='bilinear', align_corners=False))
        return torch.stack(pyramid).max(dim=0)[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = F.interpolate(self.logits(images), size=images.shape[2:], mode='bilinear', align_corners=False)
        return F.softmax(logits, dim=1)
