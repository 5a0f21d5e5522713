"""Segmenter weight files in the published layout (tests/fixtures/segmenter_layouts.json, written from the public
code), with weights that make a segmenter predict one known class everywhere."""
import json
import os
from typing import Dict

import torch

from helpers import ROOT

SYNC_BN_EXTRAS = ('._tmp_running_mean', '._tmp_running_var', '._running_iter')
# The bias that alone decides the logits when every other weight is zero.
CLASS_BIAS = {'deeplabv2_cocostuff': 'base.aspp.c0.bias', 'upernet101_ade20k': 'conv_last.1.bias',
              'drn_d_105_cityscapes': 'seg.bias'}


def published_layouts() -> Dict[str, Dict[str, Dict[str, list]]]:
    with open(os.path.join(ROOT, 'tests', 'fixtures', 'segmenter_layouts.json')) as f:
        return json.load(f)['files']


def constant_state(layout: Dict[str, list], predicted_class: int, bias_key: str) -> Dict[str, torch.Tensor]:
    """Zeros in the file's layout (unit variances), one class's logit bias set: that class wins everywhere."""
    state = {}
    for key, shape in layout.items():
        ones = key.endswith(('running_var', '_tmp_running_var', '_running_iter'))
        dtype = torch.long if key.endswith('num_batches_tracked') else torch.float32
        state[key] = torch.ones(shape) if ones else torch.zeros(shape, dtype=dtype)
    if bias_key in state:
        state[bias_key][predicted_class] = 5.0
    if 'up.weight' in state:  # DRN's fixed bilinear upsampling comes with the file
        from models.segmenters.drn import bilinear_upsampling_kernel
        channels, _, size, _ = state['up.weight'].shape
        state['up.weight'] = bilinear_upsampling_kernel(channels, size)
    return state


def write_published_files(name: str, folder: str, predicted_class: int = 0) -> str:
    """The segmenter's file(s) in `folder`; returns what --segmenter_weights takes (the file, or the folder)."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for filename, layout in published_layouts()[name].items():
        path = os.path.join(folder, filename)
        torch.save(constant_state(layout, predicted_class, CLASS_BIAS[name]), path)
        paths.append(path)
    return paths[0] if len(paths) == 1 else folder
