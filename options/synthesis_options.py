"""The command-line side of synthesis: choosing a trained model (add_model_arguments, the presets of the released
checkpoints) and reading seeds, for scripts/synthesize.py and scripts/demo.py."""
import argparse
import difflib
import os
from typing import List, Optional

from data.label_maps import MAX_INPUT_PIXELS
from models.method_registry import names as method_names
from models.sources import ResolvedModel, preset_names, resolve, source_name
from models.synthesizer import Synthesizer
from util.errors import UserError
from util.arguments import int_in
from .shared_arguments import (add_device_arguments, add_ema_argument, add_epoch_argument, add_preset_argument,
                               add_run_arguments, add_sampling_arguments, sampling_of)


# The most images one --seeds may ask for (each is a file): a typo such as 0-100000000 stops at once instead of
# filling the memory with seeds.
MAX_SEEDS = 100_000
# Seeds are below it: torch.Generator.manual_seed takes a signed 64-bit number.
SEED_LIMIT = 2 ** 63


def parse_seeds(text: str) -> List[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    ranges = []
    try:
        for part in text.split(','):
            first, _, last = part.strip().partition('-')
            ranges.append(range(int(first), int(last or first) + 1))
    except ValueError:
        raise UserError(f'--seeds {text}: give seeds as numbers and ranges, e.g. 0-3,7') from None
    if not any(ranges) or min(r.start for r in ranges) < 0 or max(r.stop for r in ranges) > SEED_LIMIT:
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
    add_preset_argument(parser)
    add_ema_argument(parser)
    add_device_arguments(parser)
    add_sampling_arguments(parser)


def model_name(args: argparse.Namespace) -> str:
    """What names the model in output folders and pages: --name, or the last part of --model."""
    return args.name or source_name(args.model)


def chosen_model(model: Optional[str], name: Optional[str], checkpoints_dir: str, which_epoch: str, use_ema: bool,
                 preset: Optional[str]) -> ResolvedModel:
    """The model the command line chooses: --model SOURCE (a model folder, a run folder or a Hub id), or the run
    --name in --checkpoints_dir, whose released files --preset describes. The one way from a command line to a
    model (test.py, the synthesis scripts, evaluate.py all --model)."""
    if model in method_names() and not os.path.exists(model):
        raise UserError(f'--model {model} is a method, which train.py takes; a trained model knows its method: give '
                        '--name NAME of its run in --checkpoints_dir, or --model SOURCE (a run folder, a model folder '
                        'or a Hub id)')
    if model is not None and preset:
        raise UserError(f'--model {model} names the model: drop --preset (a preset describes released files in the '
                        'folder of --name)')
    if model is not None:
        return resolve(model, which_epoch, use_ema)
    if not name:
        raise UserError('no model given: pass --model SOURCE (a model folder, a run folder or a Hub id), or --name '
                        'NAME of a run in --checkpoints_dir')
    source = os.path.join(checkpoints_dir, name)
    if not os.path.isdir(source) and not preset:  # released files: their missing files are named on loading
        runs = runs_in(checkpoints_dir)
        close = difflib.get_close_matches(name, runs, n=1)
        listed = (f'did you mean --name {close[0]}? ' if close else '') + \
            (f'the runs in {checkpoints_dir}: {", ".join(runs[:MAX_RUNS_LISTED])}'
             f'{" ..." if len(runs) > MAX_RUNS_LISTED else ""}; ' if runs else f'{checkpoints_dir} holds no run; ')
        raise UserError(f'{os.path.join(source, "networks.json")} does not exist: {listed}give --name of a model '
                        f'trained here (and its --checkpoints_dir), or --preset {"|".join(preset_names())} with the '
                        'folder of the released checkpoints')
    return resolve(source, which_epoch, use_ema, preset)


MAX_RUNS_LISTED = 12


def runs_in(checkpoints_dir: str) -> List[str]:
    """The run folders of --checkpoints_dir (those holding networks.json or opt.json), sorted."""
    if not os.path.isdir(checkpoints_dir):
        return []
    return sorted(entry for entry in os.listdir(checkpoints_dir)
                  if any(os.path.isfile(os.path.join(checkpoints_dir, entry, name))
                         for name in ('networks.json', 'opt.json')))


def model_of_arguments(args: argparse.Namespace) -> ResolvedModel:
    """The model chosen by the options of add_model_arguments: --model and --name are two ways to name it."""
    model = getattr(args, 'model', None)
    if model is not None and args.name:
        raise UserError(f'--model {model} names the model: drop --name')
    return chosen_model(model, args.name, args.checkpoints_dir, args.which_epoch, args.use_ema, args.preset)


def synthesizer_from_arguments(args: argparse.Namespace, backend: str = 'pytorch') -> Synthesizer:
    """The model chosen by the options of add_model_arguments, loaded (Synthesizer.from_pretrained)."""
    return Synthesizer.from_pretrained(model_of_arguments(args), gpu_ids=args.gpu_ids, amp=args.amp, backend=backend,
                                       memory_budget=args.memory_budget, sampling=sampling_of(args))
