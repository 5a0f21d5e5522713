"""CelebAMask-HQ as SDM's public code reads it: <dataroot>/{train,test}/images/*.jpg (the photos, 1024² as released)
and <dataroot>/{train,test}/labels/*.png (one 8-bit map of ids 0..18 a face, 512² as CelebAMask-HQ's g_mask.py
writes them from the per-part annotations)."""
import argparse
import os
from typing import List, Tuple

from .pix2pix_dataset import Pix2pixDataset
from .registry import register_dataset
from .settings import DataSettings


@register_dataset('celebamask_hq')
class CelebAMaskHQDataset(Pix2pixDataset):
    """19 classes (0 background .. 18 cloth), no don't-care id. The instance edges come from the label map itself:
    SDM's loader hands it the label files as its instance files, so its 20th input channel marks where the parts
    meet. Photos and label maps may differ in size (1024² and 512²): each is resized to --load_size on its own."""
    photo_size_matches_label = False

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=19, contain_dontcare_label=False,
                            cache_filelist_read=False, cache_filelist_write=False)
        return parser

    def get_paths(self, settings: DataSettings) -> Tuple[List[str], List[str], List[str]]:
        split = os.path.join(settings.dataroot, 'train' if self.split() == 'train' else 'test')
        label_paths = self.list_images(os.path.join(split, 'labels'), 'CelebAMask-HQ labels')
        image_paths = self.list_images(os.path.join(split, 'images'), 'CelebAMask-HQ images')
        return label_paths, image_paths, ([] if settings.no_instance else list(label_paths))

    def expected_photo(self, label_path: str) -> str:
        split = os.path.dirname(os.path.dirname(label_path))
        return os.path.join(split, 'images', f'{self.pair_key(label_path)}.jpg')
