"""Cityscapes as released: <dataroot>/gtFine/<split>/<city>/*_gtFine_{labelIds,instanceIds}.png and
<dataroot>/leftImg8bit/<split>/<city>/*_leftImg8bit.png."""
import argparse
import os

from .pix2pix_dataset import Pix2pixDataset
from .registry import register_dataset
from .settings import DataSettings


@register_dataset('cityscapes')
class CityscapesDataset(Pix2pixDataset):
    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='fixed', load_size=512, crop_size=512, display_winsize=512,
                            label_nc=35, aspect_ratio=2.0)
        return parser

    def get_paths(self, settings: DataSettings):
        split = self.split()
        label_files = self.list_images(os.path.join(settings.dataroot, 'gtFine', split), 'gtFine')
        label_paths = [p for p in label_files if p.endswith('_labelIds.png')]
        image_paths = self.list_images(os.path.join(settings.dataroot, 'leftImg8bit', split), 'leftImg8bit')
        instance_paths = [] if settings.no_instance else [p for p in label_files if p.endswith('_instanceIds.png')]
        return label_paths, image_paths, instance_paths

    def pair_key(self, path: str) -> str:
        # <city>_<sequence>_<frame> identifies a sample.
        return '_'.join(os.path.basename(path).split('_')[:3])

    def expected_photo(self, label_path: str) -> str:
        split, city = label_path.split(os.sep)[-3:-1]
        return os.path.join(self.settings.dataroot, 'leftImg8bit', split, city,
                            f'{self.pair_key(label_path)}_leftImg8bit.png')
