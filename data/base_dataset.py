"""Preprocessing shared by the datasets: the reference's resize/crop/flip modes on PIL images."""
import argparse
import random
from typing import Dict, List, Tuple

import torch
import torch.utils.data as data
from PIL import Image

from util.util import image_size
from util.vision import require_torchvision
from .errors import DatasetError
from .settings import DataSettings


# --dataroot's default, the reference's for every dataset mode.
REFERENCE_DATAROOT = './datasets/cityscapes/'


class BaseDataset(data.Dataset):
    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        return parser

    def initialize(self, settings: DataSettings) -> None:
        self.settings = settings

    @property
    def opt(self) -> DataSettings:
        """The settings under the reference's name, for datasets written against it (`self.opt.dataroot`,
        `self.opt = opt` in their own initialize)."""
        return self.settings

    @opt.setter
    def opt(self, settings: DataSettings) -> None:
        self.settings = settings

    reads_dataroot = False  # the dataset's files are below --dataroot (a generated dataset reads none)

    @classmethod
    def input_folders(cls, settings: DataSettings) -> Dict[str, List[str]]:
        """{option: folders} that the dataset reads its files from (none for a generated dataset): what no command
        may write into (util.paths)."""
        return {}

    def set_epoch(self, epoch: int) -> None:
        """Random augmentation is drawn per (seed, epoch, index), so a resumed run sees the same crops."""
        self.epoch = epoch

    def split(self) -> str:
        """The split --phase reads: 'train', or 'val' for val and test (the public test splits have no labels)."""
        splits = {'train': 'train', 'val': 'val', 'test': 'val'}
        if self.settings.phase not in splits:
            raise DatasetError(f'--phase {self.settings.phase}: use train, val or test')
        return splits[self.settings.phase]

    def item_path(self, index: int) -> str:
        """The file (its photo's) that item `index` is named after, known without loading the item."""
        raise NotImplementedError

    def item_rng(self, index: int) -> random.Random:
        return random.Random(f'{self.settings.seed}/{getattr(self, "epoch", 0)}/{index}')


def get_params(settings: DataSettings, size: Tuple[int, int], rng: random.Random) -> Dict:
    """Crop position and flip for one sample (the size the image has after its resize step)."""
    w, h = size
    new_w, new_h = w, h
    if settings.preprocess_mode == 'resize_and_crop':
        new_w = new_h = settings.load_size
    elif settings.preprocess_mode == 'scale_width_and_crop':
        new_w, new_h = settings.load_size, settings.load_size * h // w
    elif settings.preprocess_mode == 'scale_shortside_and_crop':
        short, long = min(w, h), max(w, h)
        long = int(settings.load_size * long / short)
        new_w, new_h = (short, long) if w == short else (long, short)
    x = rng.randint(0, max(0, new_w - settings.crop_size))
    y = rng.randint(0, max(0, new_h - settings.crop_size))
    return {'crop_pos': (x, y), 'flip': rng.random() > 0.5}


def _scale_width(img: Image.Image, width: int, method) -> Image.Image:
    w, h = img.size
    return img if w == width else img.resize((width, int(width * h / w)), method)


def _scale_shortside(img: Image.Image, size: int, method) -> Image.Image:
    # Reference quirk kept: the short side keeps its length and only the long side is scaled.
    w, h = img.size
    short, long = min(w, h), max(w, h)
    if short == size:
        return img
    long = int(size * long / short)
    return img.resize((short, long) if w == short else (long, short), method)


def _make_power_2(img: Image.Image, base: int, method) -> Image.Image:
    w, h = img.size
    new_w, new_h = int(round(w / base) * base), int(round(h / base) * base)
    return img if (new_w, new_h) == (w, h) else img.resize((new_w, new_h), method)


def transform_image(img: Image.Image, settings: DataSettings, params: Dict, method=Image.BICUBIC) -> Image.Image:
    """Resize / crop / flip a PIL image as `--preprocess_mode`; labels use NEAREST, photos BICUBIC."""
    mode = settings.preprocess_mode
    if 'resize' in mode:
        img = img.resize((settings.load_size, settings.load_size), method)
    elif 'scale_width' in mode:
        img = _scale_width(img, settings.load_size, method)
    elif 'scale_shortside' in mode:
        img = _scale_shortside(img, settings.load_size, method)
    if 'crop' in mode:
        x, y = params['crop_pos']
        img = img.crop((x, y, x + settings.crop_size, y + settings.crop_size))
    if mode == 'none':
        img = _make_power_2(img, 32, method)
    if mode == 'fixed':
        img = img.resize(image_size(settings.crop_size, settings.aspect_ratio), method)
    if settings.isTrain and not settings.no_flip and params['flip']:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


def torchvision_functional():
    """torchvision.transforms.functional, imported on first use: importing torchvision imports torch._dynamo
    (about 1.5 s a process), which commands that never convert a photo (synthesize.py, the benchmark) need not pay."""
    return require_torchvision().transforms.functional


def to_tensor(img: Image.Image) -> torch.Tensor:
    """torchvision's ToTensor, as the reference: 8-bit values / 255, (C, H, W)."""
    return torchvision_functional().to_tensor(img)


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB (or grey) photo -> float tensor in [-1, 1]."""
    tensor = to_tensor(img)
    return torchvision_functional().normalize(tensor, (0.5,) * tensor.size(0), (0.5,) * tensor.size(0))
