"""The evaluation protocol's segmentation networks, built in our code and loading their published files strictly.

    from models.segmenters import load_segmenter
    seg = load_segmenter('deeplabv2_cocostuff', weights='deeplabv2_resnet101_msc-cocostuff164k-100000.pth')
    probs = seg(images)   # N x 3 x H x W RGB in [-1, 1]  ->  N x C x H x W class probabilities at H x W

Each network does its own repository's preprocessing inside and returns the probabilities that repository's test
code takes the argmax of, at the input's resolution.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch.nn as nn

from .deeplabv2 import DeepLabV2COCOStuff
from .drn import DRNCityscapes
from .upernet import UPerNetADE20K
from .weights import WeightFile, load_weights


@dataclass(frozen=True)
class SegmenterSpec:
    build: Callable[..., nn.Module]
    files: Tuple[WeightFile, ...]  # one per sub-module named in `module`
    repository: str
    input_multiple: int = 1  # height and width must be multiples of it


SEGMENTERS: Dict[str, SegmenterSpec] = {
    'deeplabv2_cocostuff': SegmenterSpec(
        DeepLabV2COCOStuff,
        (WeightFile('deeplabv2_resnet101_msc-cocostuff164k-100000.pth', '',
                    'https://github.com/kazuto1011/deeplab-pytorch/releases/download/v1.0/'
                    'deeplabv2_resnet101_msc-cocostuff164k-100000.pth'),),
        'kazuto1011/deeplab-pytorch'),
    'upernet101_ade20k': SegmenterSpec(
        UPerNetADE20K,
        tuple(WeightFile(f'{part}_epoch_50.pth', part,
                         'http://sceneparsing.csail.mit.edu/model/pytorch/ade20k-resnet101-upernet/'
                         f'{part}_epoch_50.pth',
                         ignored_suffixes=('._tmp_running_mean', '._tmp_running_var', '._running_iter'))
              for part in ('encoder', 'decoder')),
        'CSAILVision/semantic-segmentation-pytorch'),
    'drn_d_105_cityscapes': SegmenterSpec(
        DRNCityscapes,
        # Published in a Google Drive folder only, which no plain download reaches.
        (WeightFile('drn-d-105_ms_cityscapes.pth', '', '', page='http://go.yf.io/drn-cityscapes-models'),),
        'fyu/drn', input_multiple=8),
}


def segmenter_names() -> Tuple[str, ...]:
    return tuple(SEGMENTERS)


def build_segmenter(name: str, **variant) -> nn.Module:
    """The network with random weights (for layout checks and tests); `variant` is its protocol flags."""
    return SEGMENTERS[name].build(**variant)


def load_segmenter(name: str, weights: Optional[str] = None, device: str = 'cpu', **variant) -> nn.Module:
    """The network with its published weights, in eval mode, float32, without gradients.

    weights: the published file (or, for UPerNet, the folder holding encoder_epoch_50.pth and decoder_epoch_50.pth);
    None downloads the published file(s) once into the torch hub cache.
    """
    spec = SEGMENTERS[name]
    net = spec.build(**variant)
    load_weights(net, spec.files, weights, name)
    net.requires_grad_(False)
    return net.eval().to(device)


def weight_files(name: str) -> Tuple[WeightFile, ...]:
    return SEGMENTERS[name].files
