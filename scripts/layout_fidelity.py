"""Measure how well a trained model follows the synthetic layouts, against the same model untrained.

python scripts/layout_fidelity.py --name NAME [--checkpoints_dir DIR] [--how_many N] [test options]
Prints `color_error trained <e>` and `color_error untrained <e>` (per-class mean colour error, 0..1).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import data  # noqa: E402
from models.pix2pix_model import Pix2PixModel  # noqa: E402
from options.test_options import TestOptions  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.layout_fidelity import per_class_color_error  # noqa: E402


def measure(model: Pix2PixModel, dataloader, how_many: float) -> float:
    errors, seen = [], 0
    for batch in dataloader:
        if seen >= how_many:
            break
        fake = model(batch, mode='inference')
        errors.append(per_class_color_error(fake.cpu(), batch['image'], batch['label']))
        seen += fake.shape[0]
    return sum(errors) / len(errors)


def main() -> None:
    opt = TestOptions().parse(quiet=True)
    if opt.dataset_mode != 'synthetic':
        raise UserError('layout_fidelity.py measures models trained on --dataset_mode synthetic')
    dataloader = data.create_dataloader(opt)
    torch.manual_seed(opt.seed)
    trained = Pix2PixModel(opt).eval()
    torch.manual_seed(opt.seed)
    untrained = Pix2PixModel(opt, load_checkpoint=False).eval()
    print(f'color_error trained {measure(trained, dataloader, opt.how_many):.4f}')
    print(f'color_error untrained {measure(untrained, dataloader, opt.how_many):.4f}')


if __name__ == '__main__':
    run_cli(main)
