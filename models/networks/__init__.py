"""Networks found by name: `--netG condconv`, `--netD fpse`, and the VAE encoder."""
import argparse
from typing import Dict, List, Type

import torch

from .base_network import BaseNetwork
from .discriminator import FPSEDiscriminator, MultiscaleDiscriminator
from .encoder import ConvEncoder
from .generator import CondConvGenerator, SPADEGenerator
from .loss import GANLoss, KLDLoss, VGGLoss

__all__ = ['BaseNetwork', 'GANLoss', 'KLDLoss', 'VGGLoss', 'define_D', 'define_E', 'define_G', 'discriminator_names',
           'generator_names', 'modify_commandline_options']

GENERATORS: Dict[str, Type[BaseNetwork]] = {'condconv': CondConvGenerator, 'spade': SPADEGenerator}
DISCRIMINATORS: Dict[str, Type[BaseNetwork]] = {'fpse': FPSEDiscriminator, 'multiscale': MultiscaleDiscriminator}


def generator_names() -> List[str]:
    return sorted(GENERATORS)


def discriminator_names() -> List[str]:
    return sorted(DISCRIMINATORS)


def option_owners(is_train: bool) -> Dict[str, str]:
    """{option: '--netG spade'} for every option that a generator or discriminator declares, to say whose an
    option is when it is given with another network."""
    from options.base_options import OptionParser
    owners = {}
    for flag, table in (('--netG', GENERATORS), ('--netD', DISCRIMINATORS)):
        for name, cls in table.items():
            parser = OptionParser()
            parser.add_argument('--netD_subarch', default='n_layer')  # a training option the multiscale setter reads
            shared = set(parser.declared)
            for dest in cls.modify_commandline_options(parser, is_train).declared:
                if dest not in shared:
                    owners.setdefault(dest, f'{flag} {name}')
    return owners


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
