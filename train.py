"""Train CC-FPSE: `python train.py ...` in one process, `torchrun --nproc_per_node=N train.py ...` with DDP."""
from options.run_settings import training_run
from options.train_options import TrainOptions
from trainers.training_loop import train
from util.distributed import launched_rank
from util.errors import run_cli


def main() -> None:
    options = TrainOptions()
    opt = options.parse(quiet=launched_rank() != 0)
    train(training_run(opt), lambda: options.save_options(opt))


if __name__ == '__main__':
    run_cli(main)
