"""Options that the training and test options and the synthesis scripts all take, declared once here."""
from typing import Optional

from models.inputs import AMP_DTYPES
from models.sources import preset_names
from util.arguments import float_in, gpu_list

DEFAULT_NAME = 'CC-FPSE_coco'  # the reference's default --name
DEFAULT_CHECKPOINTS_DIR = './checkpoints'


def add_run_arguments(parser, name_required: Optional[bool] = False) -> None:
    """--name and --checkpoints_dir: the run folder checkpoints/<name>/. `name_required` None: no default (another
    option may name the model instead)."""
    if name_required:
        parser.add_argument('--name', type=str, required=True,
                            help='name of the experiment: where checkpoints and results go')
    elif name_required is None:
        parser.add_argument('--name', type=str, default=None,
                            help='a run in --checkpoints_dir (or the released files\' folder with --preset)')
    else:
        parser.add_argument('--name', type=str, default=DEFAULT_NAME,
                            help='name of the experiment: where checkpoints and results go')
    parser.add_argument('--checkpoints_dir', type=str, default=DEFAULT_CHECKPOINTS_DIR, help='models are saved here')


def add_preset_argument(parser) -> None:
    parser.add_argument('--preset', type=str, default=None, choices=preset_names(),
                        help="the architecture of the authors' released checkpoints in --name's folder (they come "
                             "without networks.json or opt.json): models/methods/<method>/presets/<name>.json")


SAMPLING_OPTIONS = ('sampler', 'steps', 'guidance')


def add_sampling_arguments(parser) -> None:
    """A diffusion model's sampler (--model sdm); unset, the method's defaults (SDM: DDPM, all 1000 steps,
    guidance 1.5, as published)."""
    parser.add_argument('--sampler', type=str, default=None,
                        help='diffusion models: ddpm (ancestral), ddim, or dpm++ (DPM-Solver++, a few-step solver)')
    parser.add_argument('--steps', type=int, default=None,
                        help='diffusion models: sampling steps of the 1000 (fewer respace the schedule; default: '
                             '1000 for ddpm and ddim, 20 for dpm++)')
    parser.add_argument('--guidance', type=float, default=None,
                        help='diffusion models: classifier-free guidance scale s (<= 1: none; SDM published 1.5)')


def sampling_of(args) -> dict:
    """The sampler settings the command line gives (models.synthesizer.Synthesizer's `sampling`)."""
    return {name: getattr(args, name) for name in SAMPLING_OPTIONS if getattr(args, name, None) is not None}


def add_epoch_argument(parser) -> None:
    parser.add_argument('--which_epoch', type=str, default='latest', help='which epoch to load')


def add_ema_argument(parser) -> None:
    parser.add_argument('--use_ema', action='store_true',
                        help='synthesise with the moving-average generator (<epoch>_net_G_ema.pth)')


def add_device_arguments(parser) -> None:
    """--gpu_ids and --amp."""
    parser.add_argument('--gpu_ids', type=gpu_list, default='0',
                        help='GPU to use; -1 for the CPU. Falls back to the CPU (with a note) when no GPU is present. '
                             'Under torchrun each process takes its LOCAL_RANK GPU')
    parser.add_argument('--amp', type=str, default='off', choices=list(AMP_DTYPES),
                        help='mixed precision for G, D, E and the losses (off = float32, the faithful numbers)')
    parser.add_argument('--memory_budget', type=float_in(0), default=0.0,
                        help='GB a model larger than the published ones may take (checked before it is built); '
                             '0: the memory of the machine (of the GPU on CUDA)')
