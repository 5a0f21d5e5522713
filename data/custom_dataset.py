"""Any folders of label maps and photos (--label_dir, --image_dir, optional --instance_dir), paired by name."""
import argparse
from typing import Dict, List

from .errors import DatasetError
from .pix2pix_dataset import Pix2pixDataset
from .registry import register_dataset
from .settings import DataSettings


@register_dataset('custom')
class CustomDataset(Pix2pixDataset):
    reads_dataroot = False  # --label_dir, --image_dir, --instance_dir
    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=13, contain_dontcare_label=False)
        # Required by the dataset, not by the parser, so that a model can be built without the folders.
        parser.add_argument('--label_dir', type=str, default='', help='folder of label maps (8-bit class ids)')
        parser.add_argument('--image_dir', type=str, default='', help='folder of photos')
        parser.add_argument('--instance_dir', type=str, default='', help='folder of instance maps; leave empty if none')
        return parser

    @classmethod
    def input_folders(cls, settings: DataSettings) -> Dict[str, List[str]]:
        return {f'--{flag}': [getattr(settings, flag)] for flag in ('label_dir', 'image_dir', 'instance_dir')}

    def root_hint(self) -> str:
        return f'--label_dir {self.settings.label_dir} / --image_dir {self.settings.image_dir}'

    def get_paths(self, settings: DataSettings):
        for flag in ('label_dir', 'image_dir'):
            if not getattr(settings, flag):
                raise DatasetError(f'--dataset_mode custom needs --{flag}')
        if not settings.no_instance and not settings.instance_dir:
            raise DatasetError('--dataset_mode custom without --instance_dir needs --no_instance')
        label_paths = self.list_images(settings.label_dir, '--label_dir')
        image_paths = self.list_images(settings.image_dir, '--image_dir')
        reads_instances = settings.instance_dir and not settings.no_instance
        instance_paths = self.list_images(settings.instance_dir, '--instance_dir') if reads_instances else []
        return label_paths, image_paths, instance_paths
