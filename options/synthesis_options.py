"""The command-line side of synthesis: choosing a trained model (add_model_arguments, the presets of the released
checkpoints) and reading seeds, for scripts/synthesize.py and scripts/demo.py."""
import argparse
from typing import List, Optional, Sequence

from models.synthesizer import Synthesizer
from util.checkpoint import CheckpointStore
from util.errors import UserError
from .presets import PRESET_HELP, PRESETS
from .shared_arguments import add_device_arguments, add_ema_argument, add_epoch_argument, add_run_arguments
from .test_options import TestOptions


def parse_seeds(text: str) -> List[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    seeds = []
    try:
        for part in text.split(','):
            first, _, last = part.strip().partition('-')
            seeds.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise UserError(f'--seeds {text}: give seeds as numbers and ranges, e.g. 0-3,7') from None
    if not seeds or min(seeds) < 0:
        raise UserError(f'--seeds {text}: give seeds as numbers and ranges of non-negative numbers, e.g. 0-3,7')
    return seeds


def add_model_arguments(parser) -> None:
    """The command-line options that choose a trained model, shared by the scripts that synthesize."""
    add_run_arguments(parser, name_required=True)
    add_epoch_argument(parser)
    parser.add_argument('--preset', choices=sorted(PRESETS), default=None, help=PRESET_HELP)
    add_ema_argument(parser)
    add_device_arguments(parser)


def load_synthesizer(name: str, checkpoints_dir: str = './checkpoints', which_epoch: str = 'latest',
                     preset: Optional[str] = None, gpu_ids: str = '0', amp: str = 'off',
                     use_ema: bool = False, options: Sequence[str] = ()) -> Synthesizer:
    """A trained model: one trained here from its networks.json (Synthesizer.load), one trained before that file
    existed from its opt.json, or the authors' released checkpoints from `preset` ('coco', 'ade20k', 'cityscapes',
    'spade_*'). `options`: more test options for the presets and opt.json (e.g. ['--num_upsampling_layers', 'more'])."""
    store = CheckpointStore(checkpoints_dir, name)
    if preset is None and not options and store.read_networks() is not None:
        return Synthesizer.load(name, checkpoints_dir, which_epoch, gpu_ids, amp, use_ema)
    args = ['--name', name, '--checkpoints_dir', checkpoints_dir, '--which_epoch', which_epoch, '--gpu_ids', gpu_ids,
            '--amp', amp, *(['--use_ema'] if use_ema else []), *options]
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(f'--preset {preset}: choose one of {", ".join(PRESETS)}')
        args += ['--preset', preset]
    elif not store.read_options():
        raise UserError(f'{store.path("networks.json")} does not exist: give --name of a model trained here, or '
                        f'--preset {"|".join(PRESETS)} for the authors\' released checkpoints')
    return Synthesizer.from_options(TestOptions().parse(args, quiet=True))


def synthesizer_from_arguments(args: argparse.Namespace) -> Synthesizer:
    """The model chosen by the options of add_model_arguments."""
    return load_synthesizer(args.name, args.checkpoints_dir, args.which_epoch, args.preset, args.gpu_ids, args.amp,
                            args.use_ema)
