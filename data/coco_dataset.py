"""COCO-Stuff as SPADE lays it out: <dataroot>/{train,val}_{label,img,inst}/."""
import argparse
import os

from .pix2pix_dataset import Pix2pixDataset
from .registry import register_dataset
from .settings import DataSettings


@register_dataset('coco')
class CocoDataset(Pix2pixDataset):
    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=182, contain_dontcare_label=True,
                            cache_filelist_read=True, cache_filelist_write=True)
        return parser

    def get_paths(self, settings: DataSettings):
        folder = lambda kind: os.path.join(settings.dataroot, f'{self.split()}_{kind}')
        label_paths = self.list_images(folder('label'), 'label')
        image_paths = self.list_images(folder('img'), 'photo')
        instance_paths = [] if settings.no_instance else self.list_images(folder('inst'), 'instance')
        return label_paths, image_paths, instance_paths

    def expected_photo(self, label_path: str) -> str:
        return os.path.join(self.settings.dataroot, f'{self.split()}_img', f'{self.pair_key(label_path)}.jpg')
