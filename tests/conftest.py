import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
torch.set_num_threads(2)

from options.test_options import TestOptions  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402

SMALL = ['--ngf', '4', '--ndf', '4', '--gpu_ids', '-1', '--no_vgg_loss']


def train_opt(*args: str, small: bool = True):
    return TrainOptions().parse(list(args) + (SMALL if small else ['--gpu_ids', '-1']), quiet=True)


def make_test_opt(*args: str):
    return TestOptions().parse(list(args) + ['--gpu_ids', '-1'], quiet=True)


@pytest.fixture
def repo_root() -> str:
    return ROOT
