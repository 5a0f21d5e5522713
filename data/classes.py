"""The classes a model knows: a name and a colour for every one-hot channel of its label maps.

Names are each dataset's own (COCO-Stuff's labels.txt, ADE20K's objectInfo150, Cityscapes' labels.py,
CelebAMask-HQ's g_mask.py, kept in class_names.json). Colours are Cityscapes' own; the other datasets have no
official palette, so they get the standard colormap that SPADE's pages use. The built-in `synthetic` classes have
their own names and colours; `custom` models' classes are named by their ids.
"""
import functools
import json
import os
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np


DONTCARE_VALUE = 255  # how label map files mark don't-care pixels
NAMES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'class_names.json')


@dataclass(frozen=True)
class LabelSet:
    names: Tuple[str, ...]  # one per one-hot channel
    colors: np.ndarray  # (channels, 3) uint8, in the same order
    label_nc: int  # the channel that file value 255 maps to, as the loaders do
    dontcare_channel: Optional[int]  # that channel when it is only "don't care" (COCO), else None

    def __len__(self) -> int:
        return len(self.names)

    def channel_of_file_value(self, value: int) -> Optional[int]:
        """The channel a value stored in a label map file stands for (the loaders' rule), or None if the model
        has no such channel."""
        channel = self.label_nc if value == DONTCARE_VALUE else value
        return channel if 0 <= channel < len(self) else None

    def file_value_of_channel(self, channel: int) -> int:
        return DONTCARE_VALUE if channel == self.dontcare_channel else channel

    def file_palette(self) -> np.ndarray:
        """(256, 3) uint8: the colour of every value a label map file can hold (black where there is no class)."""
        palette = np.zeros((256, 3), dtype=np.uint8)
        for channel, color in enumerate(self.colors):
            palette[self.file_value_of_channel(channel)] = color
        return palette


def standard_colormap(n: int) -> np.ndarray:
    """(n, 3) uint8 colours from the bits of the id (PASCAL VOC's scheme, offset by one so that id 0 is not black);
    distinct for n up to 2**21."""
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        code, r, g, b = i + 1, 0, 0, 0
        for bit in range(7):
            r |= ((code >> 0) & 1) << (7 - bit)
            g |= ((code >> 1) & 1) << (7 - bit)
            b |= ((code >> 2) & 1) << (7 - bit)
            code >>= 3
        cmap[i] = (r, g, b)
    return cmap


# Cityscapes' official labelId of each of the 19 trainIds the benchmark scores (cityscapesscripts' labels.py);
# every other labelId is ignored (trainId 255).
CITYSCAPES_TRAIN_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


@functools.lru_cache(maxsize=None)
def _dataset_names() -> dict:
    with open(NAMES_FILE) as f:
        return json.load(f)


def has_fixed_classes(dataset_mode: str) -> bool:
    """Whether the dataset defines its classes (COCO-Stuff, ADE20K, Cityscapes), so that a label id beyond them
    is a broken file rather than a wrong --label_nc."""
    return isinstance(_dataset_names().get(dataset_mode), dict)


def label_channels(label_nc: int, contain_dontcare_label: bool) -> int:
    """One-hot channels of a label map: the classes, plus the don't-care label's when there is one."""
    return label_nc + (1 if contain_dontcare_label else 0)


# Datasets whose class 0 marks unlabelled pixels (ADE20K's "other", Cityscapes' "unlabeled"); elsewhere that is
# the don't-care channel (file value 255) when the labels have one.
UNLABELED_CLASS_ZERO = ('ade20k', 'cityscapes')


def unlabeled_channel(dataset_mode: str, label_nc: int, contain_dontcare_label: bool) -> Optional[int]:
    """The label channel of unlabelled pixels, which OASIS's loss ignores and puts first: ADE20K's "other" and
    Cityscapes' "unlabeled" (channel 0), or the don't-care channel (COCO-Stuff's 255); None when every channel is
    a class (the synthetic and custom data without --contain_dontcare_label)."""
    if dataset_mode in UNLABELED_CLASS_ZERO:
        return 0
    return label_nc if contain_dontcare_label else None


def label_nc_way_out(largest: int, label_nc: int, contain_dontcare_label: bool) -> str:
    """What the options allow and the --label_nc that takes ids up to `largest`: the one wording of the label-range
    rule for the loaders and scripts/check_dataset.py."""
    allowed = label_channels(label_nc, contain_dontcare_label) - 1
    return (f'--label_nc {label_nc}{" with" if contain_dontcare_label else " without"} --contain_dontcare_label '
            f'allows 0..{allowed}: use --label_nc {largest + 1}')


def label_set(dataset_mode: str, label_nc: int, contain_dontcare_label: bool) -> LabelSet:
    """The names and colours of a model's label channels. A dataset's own names apply when the model has that
    dataset's class count; otherwise (and for custom data) classes are named by their ids."""
    channels = label_channels(label_nc, contain_dontcare_label)
    if dataset_mode == 'synthetic':  # the built-in dataset's classes, in the colours its photos paint them
        # Imported here: the dataset module registers the dataset, which data/__init__ does in its own order.
        from .synthetic_dataset import class_colors as synthetic_class_colors, class_names as synthetic_class_names
        known = {'names': synthetic_class_names(label_nc),
                 'colors': np.round(synthetic_class_colors(label_nc) * 255).astype(np.uint8).tolist()}
    else:
        known = _dataset_names().get(dataset_mode, {})
    dataset_names = list(known.get('names', ()))
    dontcare_channel = label_nc if contain_dontcare_label else None
    if len(dataset_names) == channels:  # ADE20K: ids 0 ('other') .. 150 fill all 151 channels
        names, dontcare_channel = dataset_names, None
    elif len(dataset_names) == label_nc:
        names = dataset_names + ([known.get('dontcare', "don't care")] if contain_dontcare_label else [])
    else:
        names = [str(i) for i in range(label_nc)] + (["don't care"] if contain_dontcare_label else [])
    if len(known.get('colors', ())) == channels:
        colors = np.array(known['colors'], dtype=np.uint8)
    else:
        colors = standard_colormap(channels)
    return LabelSet(tuple(names), colors, label_nc, dontcare_channel)
