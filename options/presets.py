"""The architecture options of released checkpoints, which come without an options file: the CC-FPSE authors'
test scripts (test_coco.sh, test_ade.sh, test_cityscapes.sh, all with the VAE encoder) and NVlabs/SPADE's
coco_pretrained, ade20k_pretrained and cityscapes_pretrained (no encoder). `--preset NAME` stands for them in
test.py, scripts/synthesize.py and scripts/demo.py."""
import argparse
from typing import Dict, List

PRESETS: Dict[str, List[str]] = {
    'coco': ['--dataset_mode', 'coco', '--netG', 'condconv', '--use_vae'],
    'ade20k': ['--dataset_mode', 'ade20k', '--netG', 'condconv', '--use_vae'],
    'cityscapes': ['--dataset_mode', 'cityscapes', '--netG', 'condconv', '--use_vae'],
    'spade_coco': ['--dataset_mode', 'coco', '--netG', 'spade'],
    'spade_ade20k': ['--dataset_mode', 'ade20k', '--netG', 'spade'],
    'spade_cityscapes': ['--dataset_mode', 'cityscapes', '--netG', 'spade'],
}
PRESET_HELP = "the architecture of the authors' released checkpoints (which come without networks.json or opt.json)"


def with_preset(args: List[str]) -> List[str]:
    """`args` with the options of the preset they name put before them (so that their own options win); an unknown
    name is left for the parser to reject with its choices."""
    scan = argparse.ArgumentParser(add_help=False)
    scan.add_argument('--preset')
    preset = scan.parse_known_args(args)[0].preset
    return PRESETS[preset] + args if preset in PRESETS else args
