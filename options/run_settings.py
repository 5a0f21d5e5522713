"""What trainers/ is given instead of the parsed options: settings dataclasses named as the options, and the jobs of
train.py (`training_run`) and test.py (`split_job`) assembled from parsed options. The trainers never read `opt`."""
import argparse
import os
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Optional

from data.settings import DataSettings
from models.from_options import build_model
from models.pix2pix_model import Pix2PixModel
from models.segmenters import SEGMENTERS
from models.segmenters.protocol import PROTOCOLS, dataset_protocol
from models.synthesizer import Synthesizer
from util.errors import UserError
from util.util import image_size, settings_from
from .data_settings import data_settings
from .synthesis_options import synthesizer_from_options


@dataclass(frozen=True)
class OptimizationSettings:
    """How the networks are optimized: Adam (--lr, --beta1, --beta2, or TTUR's), the linear decay over --niter_decay
    epochs after --niter, mixed precision (--amp) and the generator's average (--ema_decay)."""
    lr: float
    beta1: float
    beta2: float
    no_TTUR: bool
    niter: int
    niter_decay: int
    amp: str
    ema_decay: float


@dataclass(frozen=True)
class ValidationSettings:
    """What the scores during training read."""
    dataset_mode: str
    crop_size: int
    aspect_ratio: float
    eval_freq: int
    best_metric: str
    fid_num_images: int
    fid_dims: int
    inception_weights: str
    segmenter_weights: Optional[str]  # None: the protocol's published file
    batchSize: int

    def check(self) -> None:
        """--eval_freq needs a dataset with a protocol and images its segmenter takes; --best_metric a metric
        computed."""
        if self.eval_freq > 0:
            if self.dataset_mode not in PROTOCOLS:
                raise UserError(f'--eval_freq scores with the paper\'s protocol, which exists for --dataset_mode '
                                f'{", ".join(sorted(PROTOCOLS))}, not {self.dataset_mode}: use --fid_freq for FID alone')
            multiple = SEGMENTERS[dataset_protocol(self.dataset_mode).segmenter].input_multiple
            width, height = image_size(self.crop_size, self.aspect_ratio)
            if width % multiple or height % multiple:
                raise UserError(f'--eval_freq: the {self.dataset_mode} segmenter needs image sizes that are multiples '
                                f'of {multiple}, but the generator makes {width}x{height}: change --crop_size')
        elif self.best_metric != 'fid':
            raise UserError(f'--best_metric {self.best_metric} is computed only with --eval_freq: add --eval_freq N '
                            '(or choose --best_metric fid)')


@dataclass(frozen=True)
class LoopSettings:
    """The training loop's own options: the run folder, resuming, how long, and what happens every N images."""
    name: str
    checkpoints_dir: str
    gpu_ids: str
    sync_bn: bool
    continue_train: bool
    which_epoch: str
    overwrite: bool
    seed: int
    batchSize: int
    debug: bool
    niter: int
    niter_decay: int
    print_freq: int
    display_freq: int
    save_latest_freq: int
    save_epoch_freq: int
    fid_freq: int
    eval_freq: int
    no_html: bool
    display_winsize: int
    tf_log: bool


@dataclass(frozen=True)
class TrainingRun:
    """train.py's job: everything the training loop reads, and how to build the model the options describe."""
    loop: LoopSettings
    data: DataSettings
    validation_data: DataSettings  # the validation split, in order and unflipped
    optimization: OptimizationSettings
    validation: ValidationSettings
    build_model: Callable[[], Pix2PixModel]  # with fresh weights; the loop loads --which_epoch to resume


def training_run(opt: argparse.Namespace) -> TrainingRun:
    loop = settings_from(LoopSettings, opt)
    if loop.debug:  # as the reference: print and display every iteration
        loop = replace(loop, print_freq=1, display_freq=1)
    return TrainingRun(loop, data_settings(opt),
                       data_settings(opt, isTrain=False, phase='val', serial_batches=True, no_flip=True),
                       settings_from(OptimizationSettings, opt), settings_from(ValidationSettings, opt),
                       lambda: build_model(opt))


@dataclass(frozen=True)
class SplitJob:
    """test.py's job: a model, a dataset split and where the page goes."""
    load_synthesizer: Callable[[], Synthesizer]
    data: DataSettings
    how_many: int
    results_dir: str
    name: str
    phase: str
    which_epoch: str
    display_winsize: int
    record: Dict[str, Any]  # what decides the images besides the model's files (manifest.json)
    options_table: str  # printed once the model and the data are found


# The options that change pixels or which samples are made: a rerun with other values starts over.
DECISIVE_OPTIONS = ('dataset_mode', 'phase', 'seed', 'batchSize', 'amp', 'use_ema', 'preprocess_mode', 'load_size',
                    'crop_size', 'aspect_ratio', 'no_instance', 'label_nc', 'contain_dontcare_label')


def split_job(opt: argparse.Namespace, format_options: Callable[[argparse.Namespace], str]) -> SplitJob:
    return SplitJob(lambda: synthesizer_from_options(opt), data_settings(opt), opt.how_many, opt.results_dir, opt.name,
                    opt.phase, opt.which_epoch, opt.display_winsize,
                    {'options': {name: getattr(opt, name) for name in DECISIVE_OPTIONS},
                     'dataroot': os.path.abspath(opt.dataroot)},
                    format_options(opt))
