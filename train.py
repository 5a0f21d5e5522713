"""Train a model of any method (--model pix2pix: CC-FPSE or SPADE; oasis; models/methods/<name>/): `python train.py
...` in one process, `torchrun --nproc_per_node=N train.py ...` with DDP."""
import argparse

from models.from_options import model_recipe
from options.data_settings import data_settings
from options.train_options import TrainOptions
from trainers.trainer import OptimizationSettings
from trainers.training_loop import LoopSettings, TrainingRun, train
from trainers.validation import ValidationSettings
from util.distributed import launched_rank
from util.errors import run_cli
from util.util import settings_from


def training_run(opt: argparse.Namespace) -> TrainingRun:
    """The training loop's job of parsed options: its settings are named as the options."""
    return TrainingRun(settings_from(LoopSettings, opt), data_settings(opt),
                       data_settings(opt, isTrain=False, phase='val', serial_batches=True, no_flip=True),
                       settings_from(OptimizationSettings, opt), settings_from(ValidationSettings, opt),
                       model_recipe(opt))


def main() -> None:
    options = TrainOptions()
    opt = options.parse(quiet=launched_rank() != 0)
    train(training_run(opt), lambda: options.save_options(opt))


if __name__ == '__main__':
    run_cli(main)
