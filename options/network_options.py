"""Which options belong to the model and to each network: the networks declare their own beside their classes
(models.networks.registry); here the model's, and who owns which option."""
from typing import Dict

from models import method_registry
from models.networks import registry
from .parser import OptionParser


def add_model_options(parser: OptionParser, is_train: bool) -> None:
    """The model's options (--amp is with --gpu_ids in shared_arguments); for training, the chosen method's: its
    networks by default, and its own options; then the chosen generator's and (training) discriminator's."""
    parser.add_argument('--cpu_allocator', type=str, default='retain', choices=['retain', 'system'],
                        help='on the CPU: retain (keep freed memory for reuse, faster) or system (the C library '
                             'default)')
    method = method_registry.method(parser.selected('model')) \
        if is_train and parser.selected('model') in method_registry.names() else None  # another: argparse rejects it
    if method is not None:
        parser.set_defaults(netG=method.default_generator, **({'netD': method.discriminators[0]}
                                                               if method.discriminators else {}))
        if method.add_options is not None:
            method.add_options(parser, is_train)
    trains_discriminator = is_train and (method is None or bool(method.discriminators))
    chosen = [('generator', 'netG')] + ([('discriminator', 'netD')] if trains_discriminator else [])
    for kind, option in chosen:
        add_options = registry.entry(kind, parser.selected(option)).add_options
        if add_options is not None:
            add_options(parser, is_train)


def option_owners(is_train: bool) -> Dict[str, str]:
    """{option: '--netG spade'} for every option that a generator or discriminator declares, to say whose an
    option is when it is given with another network."""
    owners = {}
    for kind, declared in registry.KINDS.items():
        flag = declared.option
        for name, entry in registry.REGISTRY[kind].items():
            if flag is None or entry.add_options is None:
                continue
            parser = OptionParser()
            entry.add_options(parser, is_train)
            for dest in parser.declared:
                owners.setdefault(dest, f'{flag} {name}')
    return owners
