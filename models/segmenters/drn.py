"""DRN-D-105 for Cityscapes, as fyu/drn's `DRNSeg('drn_d_105', 19)` builds it, so that its
`drn-d-105_ms_cityscapes.pth` loads with strict=True (keys `base.<0..8>.*`, `seg.*`, `up.weight`)."""
import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from .layers import Normalize, bottleneck_stage, pil_resize_images

# datasets/cityscapes/info.json of the repository: the training images' mean and std.
CITYSCAPES_MEAN = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)
CITYSCAPES_STD = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)
# segment.py's scales for --ms (the full scale is added).
MULTI_SCALES = (0.5, 0.75, 1.25, 1.5, 1.75)


def conv_layers(in_channels: int, out_channels: int, count: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """DRN-D's plain levels: `count` times 3x3 conv -> BN -> ReLU, flat in one Sequential (keys 0, 1, 3, 4, ...)."""
    modules = []
    for i in range(count):
        modules += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, stride if i == 0 else 1,
                              padding=dilation, dilation=dilation, bias=False),
                    nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*modules)


def drn_d_105_levels() -> nn.Sequential:
    """The nine levels of DRN-D-105 (output stride 8, 512 channels): what DRNSeg keeps of the classifier."""
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 16, 7, 1, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)),
        conv_layers(16, 16, 1),
        conv_layers(16, 32, 1, stride=2),
        bottleneck_stage(32, 64, 3, stride=2),
        bottleneck_stage(256, 128, 4, stride=2),
        bottleneck_stage(512, 256, 23, dilation=2),
        bottleneck_stage(1024, 512, 3, dilation=4),
        conv_layers(2048, 512, 1, dilation=2),
        conv_layers(512, 512, 1),
    )


def bilinear_upsampling_kernel(channels: int, size: int) -> torch.Tensor:
    """(channels, 1, size, size): the fixed bilinear kernel DRNSeg gives its grouped transposed convolution."""
    f = math.ceil(size / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    taps = torch.tensor([1 - abs(i / f - c) for i in range(size)], dtype=torch.float32)
    return (taps[:, None] * taps[None, :]).expand(channels, 1, size, size).clone()


def pil_resize_maps(maps: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Each channel resized with PIL's bilinear filter on float32, as segment.py's resize_4d_tensor."""
    if maps.shape[2:] == (height, width):
        return maps
    array = maps.detach().float().cpu().numpy()
    out = np.empty(array.shape[:2] + (height, width), dtype=np.float32)
    for n in range(array.shape[0]):
        for c in range(array.shape[1]):
            out[n, c] = np.array(Image.fromarray(array[n, c]).resize((width, height), Image.BILINEAR))
    return torch.from_numpy(out).to(maps.device)


class DRNCityscapes(nn.Module):
    """Images (N, 3, H, W, RGB in [-1, 1]; H and W multiples of 8) -> probabilities (N, 19, H, W) over Cityscapes'
    train ids: the softmax whose logarithm segment.py takes the argmax of. With `scales`, segment.py's --ms: the
    image also at each scale (PIL bicubic), each log-probability map resized back (PIL bilinear) and summed; the
    softmax of the mean is returned (same argmax)."""

    def __init__(self, num_classes: int = 19, scales: Optional[Sequence[float]] = None):
        super().__init__()
        self.num_classes = num_classes
        self.scales = tuple(scales) if scales else None
        self.normalize = Normalize(CITYSCAPES_MEAN, CITYSCAPES_STD)
        self.base = drn_d_105_levels()
        self.seg = nn.Conv2d(512, num_classes, 1, bias=True)
        self.up = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, padding=4, groups=num_classes, bias=False)
        self.up.weight.data.copy_(bilinear_upsampling_kernel(num_classes, 16))
        self.up.weight.requires_grad_(False)  # fixed in the public code too; its value comes with the file

    def log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.up(self.seg(self.base(self.normalize(images)))), dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[2:]
        total = self.log_probabilities(images)
        for scale in self.scales or ():
            scaled = pil_resize_images(images, (int(width * scale), int(height * scale)), Image.BICUBIC)
            total = total + pil_resize_maps(self.log_probabilities(scaled), width, height)
        return F.softmax(total / (1 + len(self.scales or ())), dim=1)
