"""A built-in dataset that needs no files: procedural layouts and photos rendered from them.

Each layout has a sky / ground split with a wavy horizon and several blob-shaped regions; blobs of the
'thing' classes are separate instances. The photo paints every class in its own colour and texture, with
shading and noise, so the label -> photo mapping is learnable. Items are deterministic per (--seed, split, index).
"""
import argparse
import colorsys
import sys
from typing import Dict, List

import numpy as np
import torch

from util.util import image_size
from .base_dataset import BaseDataset
from .registry import register_dataset
from .settings import DataSettings

DEFAULT_SIZES = {'train': 512, 'test': 64}
SKY, FIRST_GROUND, NUM_GROUNDS = 0, 1, 3
FIRST_THING_FRACTION = 0.6  # the upper 40% of the blob classes are countable objects with instance ids


# sky, three grounds, then the blob classes (stuff, then things): far apart in RGB so that each class is
# recognisable, and named after how the photos paint them.
CLASSES = [('sky', (0.45, 0.70, 0.95)), ('grass', (0.20, 0.55, 0.20)), ('sand', (0.85, 0.75, 0.50)),
           ('asphalt', (0.35, 0.35, 0.38)), ('red field', (0.85, 0.15, 0.15)), ('orange field', (0.95, 0.55, 0.10)),
           ('yellow field', (0.95, 0.90, 0.20)), ('purple field', (0.50, 0.20, 0.70)),
           ('pink object', (0.95, 0.50, 0.75)), ('cyan object', (0.10, 0.80, 0.80)),
           ('brown object', (0.45, 0.25, 0.05)), ('white object', (0.97, 0.97, 0.97))]


def class_names(num_classes: int) -> List[str]:
    """The name of each class; beyond the fixed twelve, 'class N'."""
    return [name for name, _ in CLASSES[:num_classes]] + [f'class {c}' for c in range(len(CLASSES), num_classes)]


def class_colors(num_classes: int) -> np.ndarray:
    """(num_classes, 3) base colours in [0, 1]; beyond the fixed twelve, hues spread by the golden ratio."""
    colors = [color for _, color in CLASSES[:num_classes]]
    for c in range(len(colors), num_classes):
        colors.append(colorsys.hsv_to_rgb((c * 0.618034) % 1.0, 0.8, 0.9 if c % 2 == 0 else 0.55))
    return np.asarray(colors, dtype=np.float32)


@register_dataset('synthetic')
class SyntheticDataset(BaseDataset):
    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.set_defaults(preprocess_mode='fixed', load_size=64, crop_size=64, display_winsize=128,
                            label_nc=12, contain_dontcare_label=False, aspect_ratio=1.0)
        return parser

    def initialize(self, settings: DataSettings) -> None:
        self.settings = settings
        if settings.label_nc < FIRST_GROUND + NUM_GROUNDS + 2:
            from .errors import DatasetError
            raise DatasetError('--dataset_mode synthetic needs --label_nc of at least '
                               f'{FIRST_GROUND + NUM_GROUNDS + 2}')
        self.part = 'train' if self.split() == 'train' else 'test'  # the procedural train and test items
        # Procedural, so any size: --max_dataset_size sets it, else a default per split.
        self.size = DEFAULT_SIZES[self.part] if settings.max_dataset_size == sys.maxsize else settings.max_dataset_size
        self.width, self.height = image_size(settings.crop_size, settings.aspect_ratio)
        self.colors = class_colors(settings.label_nc)
        blob_classes = np.arange(FIRST_GROUND + NUM_GROUNDS, settings.label_nc)
        self.blob_classes = blob_classes
        self.first_thing = blob_classes[int(len(blob_classes) * FIRST_THING_FRACTION)]

    def item_path(self, index: int) -> str:
        return f'synthetic/{self.part}/{index:05d}.png'

    def __len__(self) -> int:
        return self.size

    def render_layout(self, rng: np.random.Generator):
        h, w = self.height, self.width
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        level = h * rng.uniform(0.3, 0.6)  # drawn before the wave's frequency and phase
        horizon = level + h * 0.05 * np.sin(xs[0] / w * 2 * np.pi * rng.uniform(0.5, 2) + rng.uniform(0, 6.3))
        label = np.where(ys < horizon[None, :], SKY, FIRST_GROUND + rng.integers(NUM_GROUNDS)).astype(np.int64)
        instance = label.copy()
        for k in range(rng.integers(3, 7)):
            cls = int(rng.choice(self.blob_classes))
            cy, cx = rng.uniform(0.2, 0.95) * h, rng.uniform(0.05, 0.95) * w
            ry, rx = rng.uniform(0.08, 0.25) * h, rng.uniform(0.08, 0.25) * w
            angle = np.arctan2(ys - cy, xs - cx)
            wobble = 1 + 0.2 * np.sin(3 * angle + rng.uniform(0, 6.3)) + 0.1 * np.sin(5 * angle + rng.uniform(0, 6.3))
            inside = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 < wobble ** 2
            label[inside] = cls
            instance[inside] = cls * 1000 + k if cls >= self.first_thing else cls
        return label, instance

    def render_photo(self, label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = label.shape
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
        photo = self.colors[label]  # (h, w, 3)
        # Class-specific texture: stripes with a frequency and orientation of the class.
        freq = 6 + 3 * (label % 4)
        theta = label * 0.7
        texture = 0.12 * np.sin(2 * np.pi * freq * (xs * np.cos(theta) + ys * np.sin(theta)))
        shading = 0.15 * (ys - 0.5) * np.where(label == SKY, -1.0, 1.0)
        photo = photo + (texture + shading)[..., None] + rng.normal(0, 0.03, size=photo.shape)
        return np.clip(photo, 0, 1).astype(np.float32)

    def __getitem__(self, index: int) -> Dict:
        rng = np.random.default_rng([self.settings.seed, 0 if self.part == 'train' else 1, index])
        label, instance = self.render_layout(rng)
        photo = self.render_photo(label, rng)
        if self.settings.output_nc == 1:
            photo = photo.mean(axis=2, keepdims=True)
        if self.settings.isTrain and not self.settings.no_flip and self.item_rng(index).random() > 0.5:
            label, instance, photo = label[:, ::-1], instance[:, ::-1], photo[:, ::-1]
        return {
            'label': torch.from_numpy(label.astype(np.float32).copy())[None],
            'instance': 0 if self.settings.no_instance else torch.from_numpy(instance.copy())[None],
            'image': torch.from_numpy(photo.transpose(2, 0, 1).copy()) * 2 - 1,
            'path': self.item_path(index),
        }
