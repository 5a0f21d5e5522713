"""Which device a process computes on."""
import argparse
import os

import torch


def select_device(opt: argparse.Namespace) -> torch.device:
    """The GPU if there is one (under torchrun, the one of LOCAL_RANK), the CPU otherwise or with --gpu_ids -1."""
    ids = [int(i) for i in str(getattr(opt, 'gpu_ids', '0')).split(',') if i.strip()]
    if not ids or ids[0] < 0 or not torch.cuda.is_available():
        return torch.device('cpu')
    if 'LOCAL_RANK' in os.environ:
        return torch.device('cuda', int(os.environ['LOCAL_RANK']))
    return torch.device('cuda', ids[0])
