"""Networks found by name: `--netG condconv`, `--netD fpse`, and the VAE encoder."""
import argparse
from typing import Dict, List, Type

import torch

from .base_network import BaseNetwork
from .discriminator import FPSEDiscriminator
from .encoder import ConvEncoder
from .generator import CondConvGenerator
from .loss import GANLoss, KLDLoss, VGGLoss

__all__ = ['BaseNetwork', 'GANLoss', 'KLDLoss', 'VGGLoss', 'define_D', 'define_E', 'define_G', 'discriminator_names',
           'generator_names', 'modify_commandline_options']

GENERATORS: Dict[str, Type[BaseNetwork]] = {'condconv': CondConvGenerator}
DISCRIMINATORS: Dict[str, Type[BaseNetwork]] = {'fpse': FPSEDiscriminator}


def generator_names() -> List[str]:
    return sorted(GENERATORS)


def discriminator_names() -> List[str]:
    return sorted(DISCRIMINATORS)


def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
    """The chosen networks' own options (`parser` is an options.base_options.OptionParser)."""
    parser = GENERATORS[parser.selected('netG')].modify_commandline_options(parser, is_train)
    if is_train:
        parser = DISCRIMINATORS[parser.selected('netD')].modify_commandline_options(parser, is_train)
    return ConvEncoder.modify_commandline_options(parser, is_train)


def _create(cls: Type[BaseNetwork], opt: argparse.Namespace, device: torch.device) -> BaseNetwork:
    net = cls(opt).to(device)
    net.init_weights(opt.init_type, opt.init_variance)
    return net


def define_G(opt: argparse.Namespace, device: torch.device = torch.device('cpu')) -> BaseNetwork:
    return _create(GENERATORS[opt.netG], opt, device)


def define_D(opt: argparse.Namespace, device: torch.device = torch.device('cpu')) -> BaseNetwork:
    return _create(DISCRIMINATORS[opt.netD], opt, device)


def define_E(opt: argparse.Namespace, device: torch.device = torch.device('cpu')) -> BaseNetwork:
    return _create(ConvEncoder, opt, device)
