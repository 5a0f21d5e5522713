"""The command-line side of synthesis: choosing a trained model (add_model_arguments, the presets of the released
checkpoints) and reading seeds, for scripts/synthesize.py and scripts/demo.py."""
import argparse
from typing import List, Optional, Sequence

from data.label_maps import MAX_INPUT_PIXELS
from models.from_options import runtime_from_options, spec_from_options
from models.pretrained import source_name
from models.spec import read_spec
from models.synthesizer import Synthesizer
from util.checkpoint import CheckpointStore
from util.errors import UserError
from util.arguments import int_in
from .base_options import REFERENCE_MODEL
from .presets import PRESET_HELP, PRESETS
from .shared_arguments import add_device_arguments, add_ema_argument, add_epoch_argument, add_run_arguments
from .test_options import TestOptions


# The most images one --seeds may ask for (each is a file): a typo such as 0-100000000 stops at once instead of
# filling the memory with seeds.
MAX_SEEDS = 100_000


def parse_seeds(text: str) -> List[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    ranges = []
    try:
        for part in text.split(','):
            first, _, last = part.strip().partition('-')
            ranges.append(range(int(first), int(last or first) + 1))
    except ValueError:
        raise UserError(f'--seeds {text}: give seeds as numbers and ranges, e.g. 0-3,7') from None
    if not any(ranges) or min(r.start for r in ranges) < 0 or max(r.stop for r in ranges) > 2 ** 63:
        raise UserError(f'--seeds {text}: give seeds as numbers and ranges of non-negative numbers, e.g. 0-3,7')
    count = sum(len(r) for r in ranges)
    if count > MAX_SEEDS:
        raise UserError(f'--seeds {text}: {count} seeds, more than {MAX_SEEDS} images in one run; split the range '
                        'over several runs')
    return [seed for r in ranges for seed in r]


def add_input_limit_argument(parser) -> None:
    """--max_input_pixels: the largest label map or photo read (checked before it is decoded)."""
    parser.add_argument('--max_input_pixels', type=int_in(1), default=MAX_INPUT_PIXELS,
                        help='refuse label maps, instance maps and style photos with more pixels than this (they '
                             'are resized to the model\'s size; a larger one takes gigabytes to decode)')


MODEL_HELP = ('the model: a folder of scripts/convert_checkpoint.py (config.json + G.safetensors), a run folder '
              '(checkpoints/<name>), or a Hugging Face Hub repository id owner/name (read from the local cache when '
              'there; HF_HUB_OFFLINE=1 never downloads)')


def add_model_arguments(parser, sources: bool = True) -> None:
    """The command-line options that choose a trained model, shared by the scripts that synthesize: --name (a
    run in --checkpoints_dir, or the released files with --preset), or with `sources` --model SOURCE."""
    add_run_arguments(parser, name_required=None if sources else True)
    if sources:
        parser.add_argument('--model', default=None, metavar='SOURCE', help=MODEL_HELP)
    add_epoch_argument(parser)
    parser.add_argument('--preset', choices=sorted(PRESETS), default=None, help=PRESET_HELP)
    add_ema_argument(parser)
    add_device_arguments(parser)


def model_name(args: argparse.Namespace) -> str:
    """What names the model in output folders and pages: --name, or the last part of --model."""
    return args.name or source_name(args.model)


def load_synthesizer(name: str, checkpoints_dir: str = './checkpoints', which_epoch: str = 'latest',
                     preset: Optional[str] = None, gpu_ids: str = '0', amp: str = 'off',
                     use_ema: bool = False, options: Sequence[str] = ()) -> Synthesizer:
    """A trained model: one trained here from its networks.json (Synthesizer.load), one trained before that file
    existed from its opt.json, or the authors' released checkpoints from `preset` ('coco', 'ade20k', 'cityscapes',
    'spade_*'). `options`: more test options for the presets and opt.json (e.g. ['--num_upsampling_layers', 'more'])."""
    store = CheckpointStore(checkpoints_dir, name)
    if preset is None and not options and read_spec(store) is not None:
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
    return synthesizer_from_options(TestOptions().parse(args, quiet=True))


def synthesizer_from_options(opt: argparse.Namespace) -> Synthesizer:
    """The model of test options, built from the run's spec (networks.json), or for the released checkpoints
    (--preset, or a run without networks.json) from the spec of the options; eval mode."""
    if opt.model != REFERENCE_MODEL:
        return Synthesizer.from_pretrained(opt.model, opt.which_epoch, opt.use_ema, opt.gpu_ids, opt.amp,
                                           runtime=runtime_from_options(opt))
    store = CheckpointStore(opt.checkpoints_dir, opt.name)
    spec = (None if opt.preset else read_spec(store)) or spec_from_options(opt)
    return Synthesizer.from_spec(spec, store, opt.which_epoch, opt.use_ema, opt.gpu_ids, opt.amp,
                                 runtime_from_options(opt))


def synthesizer_from_arguments(args: argparse.Namespace) -> Synthesizer:
    """The model chosen by the options of add_model_arguments."""
    model = getattr(args, 'model', None)
    if model is not None:
        if args.preset or args.name:
            raise UserError(f'--model {model} names the model: drop --{"preset" if args.preset else "name"}')
        return Synthesizer.from_pretrained(model, args.which_epoch, args.use_ema, args.gpu_ids, args.amp)
    if not args.name:
        raise UserError('no model given: pass --model SOURCE (a model folder, a run folder or a Hub id), or --name '
                        'NAME of a run in --checkpoints_dir')
    return load_synthesizer(args.name, args.checkpoints_dir, args.which_epoch, args.preset, args.gpu_ids, args.amp,
                            args.use_ema)
