"""Models found by name (`--model pix2pix`)."""
import argparse
import importlib
from typing import Callable

import torch


def find_model_using_name(model_name: str) -> type:
    module = importlib.import_module(f'models.{model_name}_model')
    target = model_name.replace('_', '') + 'model'
    for name, cls in vars(module).items():
        if name.lower() == target and isinstance(cls, type) and issubclass(cls, torch.nn.Module):
            return cls
    raise ValueError(f'models/{model_name}_model.py has no torch.nn.Module subclass named like {target}')


def get_option_setter(model_name: str) -> Callable:
    return find_model_using_name(model_name).modify_commandline_options


def create_model(opt: argparse.Namespace) -> torch.nn.Module:
    return find_model_using_name(opt.model)(opt)
