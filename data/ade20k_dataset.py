"""ADE20K as released: <dataroot>/{images,annotations}/{training,validation}/ADE_{train,val}_*.{jpg,png}."""
import argparse
import os

from .image_folder import make_dataset
from .pix2pix_dataset import Pix2pixDataset
from .registry import register_dataset
from .settings import DataSettings


@register_dataset('ade20k')
class ADE20KDataset(Pix2pixDataset):
    """Label ids are returned as stored: 0 ('other') .. 150, one-hot into label_nc + 1 = 151 channels.

    The released code meant to shift them down by one with 0 as don't-care, but its postprocess never writes the
    shifted tensor back; the released ADE20K weights were trained on the unshifted ids, so we keep them.
    """

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=150, contain_dontcare_label=True,
                            cache_filelist_read=False, cache_filelist_write=False, no_instance=True)
        return parser

    def get_paths(self, settings: DataSettings):
        split = self.split()
        files = make_dataset(settings.dataroot, what='ADE20K')
        files = [p for p in files if f'_{split}_' in p]
        image_paths = [p for p in files if p.endswith('.jpg')]
        label_paths = [p for p in files if p.endswith('.png')]
        return label_paths, image_paths, []

    def expected_photo(self, label_path: str) -> str:
        folder = 'validation' if '_val_' in os.path.basename(label_path) else 'training'
        return os.path.join(self.settings.dataroot, 'images', folder, f'{self.pair_key(label_path)}.jpg')
