"""Label map + photo (+ instance map) datasets on disk, with cheap checks that name the bad file."""
import argparse
import os
from typing import Dict, List, Tuple

import numpy as np
import torch
from PIL import Image

from .base_dataset import REFERENCE_DATAROOT, BaseDataset, get_params, image_to_tensor, to_tensor, transform_image
from .classes import DONTCARE_VALUE, label_nc_way_out
from .errors import DatasetError
from .image_folder import make_dataset, natural_sort, open_image, stem
from .settings import DataSettings

LABEL_MODES = ('L', 'P')


def open_item_file(path: str, what: str) -> Image.Image:
    return open_image(path, what, ' (was it moved? delete a stale files.list)')


class Pix2pixDataset(BaseDataset):
    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.add_argument('--no_pairing_check', action='store_true',
                            help='skip the check that label and photo file names match')
        return parser

    def get_paths(self, settings: DataSettings) -> Tuple[List[str], List[str], List[str]]:
        raise NotImplementedError

    def list_images(self, folder: str, what: str) -> List[str]:
        return make_dataset(folder, self.settings.cache_filelist_read, self.settings.cache_filelist_write, what)

    reads_dataroot = True  # the dataset's files are below --dataroot (custom: its own folder options)
    photo_size_matches_label = True  # a photo of another size than its label map is a broken item

    @classmethod
    def input_folders(cls, settings: DataSettings) -> Dict[str, List[str]]:
        return {'--dataroot': [settings.dataroot]} if cls.reads_dataroot else {}

    def dataset_paths(self, settings: DataSettings) -> Tuple[List[str], List[str], List[str]]:
        """get_paths, once --dataroot is known to exist (its default names Cityscapes' folder for every mode)."""
        if self.reads_dataroot and not os.path.isdir(settings.dataroot):
            default = (' (the default, which the reference names after Cityscapes whatever the dataset)'
                       if settings.dataroot == REFERENCE_DATAROOT else '')
            raise DatasetError(f'--dataroot {settings.dataroot} does not exist{default}: give the folder of the '
                               f'{settings.dataset_mode} dataset with --dataroot')
        return self.get_paths(settings)

    def initialize(self, settings: DataSettings) -> None:
        self.settings = settings
        label_paths, image_paths, instance_paths = self.dataset_paths(settings)
        for paths in (label_paths, image_paths, instance_paths):
            natural_sort(paths)
        if not label_paths:
            raise DatasetError(f'no label maps found for --dataset_mode {settings.dataset_mode} under '
                               f'{self.root_hint()}: '
                               'check --dataroot and --phase')
        if len(label_paths) != len(image_paths):
            photos = {self.pair_key(path) for path in image_paths}
            unpaired = [path for path in label_paths if self.pair_key(path) not in photos]
            first = f'label map {unpaired[0]} has no photo {self.expected_photo(unpaired[0])}; ' if unpaired else ''
            raise DatasetError(f'{first}{len(label_paths)} label maps but {len(image_paths)} photos under '
                               f'{self.root_hint()}: every label map needs its photo (scripts/check_dataset.py lists '
                               f'them all)')
        if not settings.no_instance and len(instance_paths) != len(label_paths):
            raise DatasetError(f'{len(label_paths)} label maps but {len(instance_paths)} instance maps under '
                               f'{self.root_hint()}: provide them all or pass --no_instance')
        limit = settings.max_dataset_size
        self.label_paths, self.image_paths = label_paths[:limit], image_paths[:limit]
        self.instance_paths = instance_paths[:limit] if not settings.no_instance else []
        if not settings.no_pairing_check:
            for label_path, image_path in zip(self.label_paths, self.image_paths):
                if not self.paths_match(label_path, image_path):
                    raise DatasetError(f'label map {label_path} and photo {image_path} do not look like a pair '
                                       '(file names differ): fix the files or pass --no_pairing_check')
        self.num_labels = settings.num_labels

    def root_hint(self) -> str:
        return self.settings.dataroot

    def pair_key(self, path: str) -> str:
        """What a label map, its photo and its instance map have in common: the file name without extension."""
        return stem(path)

    def paths_match(self, path1: str, path2: str) -> bool:
        return self.pair_key(path1) == self.pair_key(path2)

    def expected_photo(self, label_path: str) -> str:
        """The photo a label map is paired with, as a user would look for it."""
        return f'named {self.pair_key(label_path)}.* (jpg, png, ...)'

    def load_label(self, label: Image.Image, path: str, params: Dict) -> torch.Tensor:
        if label.mode not in LABEL_MODES:
            raise DatasetError(f'label map {path} is a {label.mode} image; expected one channel of class ids '
                               '(8-bit grey or palette): convert colour-coded maps to ids first')
        # As the reference: ids through ToTensor (x/255) and back (*255), exact for all 8-bit values.
        label_tensor = to_tensor(transform_image(label, self.settings, params, Image.NEAREST)) * 255.0
        label_tensor[label_tensor == DONTCARE_VALUE] = self.settings.label_nc  # the don't-care channel
        largest = int(label_tensor.max())
        if largest >= self.num_labels and label.format == 'JPEG':
            raise DatasetError(f'label map {path} is a JPEG and has id {largest}, outside 0..{self.num_labels - 1}: '
                               'lossy compression changes class ids at region edges; save label maps as PNG')
        if largest >= self.num_labels:
            raise DatasetError(
                f'label map {path} has id {largest}, but '
                f'{label_nc_way_out(largest, self.settings.label_nc, self.settings.contain_dontcare_label)} (ids '
                f'0..{largest}), '
                'or map the id to 255 (don\'t care) and add --contain_dontcare_label')
        return label_tensor

    def load_instance(self, path: str, params: Dict) -> torch.Tensor:
        instance = transform_image(open_item_file(path, 'instance map'), self.settings, params, Image.NEAREST)
        if instance.mode == 'L':
            return (to_tensor(instance) * 255).long()
        # 16- and 32-bit maps (Cityscapes instanceIds): the ids themselves.
        return torch.from_numpy(np.array(instance).astype(np.int64))[None]

    def __getitem__(self, index: int) -> Dict:
        label_path, image_path = self.label_paths[index], self.image_paths[index]
        label = open_item_file(label_path, 'label map')
        params = get_params(self.settings, label.size, self.item_rng(index))
        label_tensor = self.load_label(label, label_path, params)
        image = open_item_file(image_path, 'photo').convert('RGB' if self.settings.output_nc == 3 else 'L')
        image_tensor = image_to_tensor(transform_image(image, self.settings, params, Image.BICUBIC))
        instance_tensor = 0 if self.settings.no_instance else self.load_instance(self.instance_paths[index], params)
        return {'label': label_tensor, 'instance': instance_tensor, 'image': image_tensor, 'path': image_path}

    def item_path(self, index: int) -> str:
        return self.image_paths[index]

    def __len__(self) -> int:
        return len(self.label_paths)
