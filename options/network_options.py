"""Which options belong to the model and to each network: declared here, read by models.networks.define_*."""
from typing import Callable, Dict, Tuple

from models.networks.generator import BLOCK_SCHEDULES, MEMORY_FORMATS, SPADE_UPSAMPLING_STEPS
from models.networks.predictor import PREDICTOR_NC
from .parser import OptionParser, limited_int


def add_upsampling_option(parser: OptionParser, choices: Tuple[str, ...]) -> None:
    # Both codes choose the deeper layout for Cityscapes by dataset name; the released checkpoints need it.
    default = 'more' if parser.selected('dataset_mode') == 'cityscapes' else 'normal'
    parser.add_argument('--num_upsampling_layers', choices=choices, default=default, architecture=True,
                        help="'more' adds an upsampling step between the two middle blocks (one more pyramid level); "
                             "'most' (SPADE) also a last block at twice the resolution")


def condconv_options(parser: OptionParser, is_train: bool) -> None:
    parser.add_argument('--predictor_nc', type=limited_int('predictor_nc'), default=PREDICTOR_NC, architecture=True,
                        help="hidden channels of every block's kernel and attention predictors (the paper's 128); "
                             "fewer make small CPU models several times faster")
    parser.add_argument('--depthconv_impl', type=str, default='lean', choices=['lean', 'unfold'],
                        help='conditional depthwise convolution: lean (never builds the unfolded input) or unfold (the reference formulation); same numbers')
    parser.add_argument('--predictor_impl', type=str, default='fused', choices=['fused', 'reference'],
                        help="kernel/attention predictors: fused (a block's first layers as one convolution that skips "
                             "label channels absent from the batch; with --depthconv_impl lean, kernel maps predicted "
                             "a tap at a time without autograd) or reference (one convolution each, whole kernel maps); "
                             "same numbers")
    parser.add_argument('--memory_format', type=str, default='auto', choices=list(MEMORY_FORMATS),
                        help='layout of the generator\'s activations: auto is channels_last on CPU under --amp bf16 '
                             'with the lean, fused kernels (oneDNN\'s convolutions are faster so) and contiguous '
                             'otherwise; channels-last, kernel maps are predicted tap-major so that a tap\'s kernels '
                             'are adjacent channels; same numbers')
    parser.add_argument('--checkpoint_predictors', action='store_true',
                        help='recompute the per-pixel kernels in backward instead of keeping them: less memory, more time')
    add_upsampling_option(parser, tuple(BLOCK_SCHEDULES))


def spade_options(parser: OptionParser, is_train: bool) -> None:
    parser.set_defaults(norm_G='spectralspadesyncbatch3x3')
    add_upsampling_option(parser, tuple(SPADE_UPSAMPLING_STEPS))


def multiscale_options(parser: OptionParser, is_train: bool) -> None:
    parser.add_argument('--num_D', type=limited_int('num_D'), default=2, architecture=True, help='number of discriminators (scales)')
    parser.add_argument('--n_layers_D', type=limited_int('n_layers_D'), default=4, architecture=True, help='layers in each discriminator')


OptionSetter = Callable[[OptionParser, bool], None]
GENERATOR_OPTIONS: Dict[str, OptionSetter] = {'condconv': condconv_options, 'spade': spade_options}
DISCRIMINATOR_OPTIONS: Dict[str, OptionSetter] = {'multiscale': multiscale_options}  # fpse has none of its own


def add_model_options(parser: OptionParser, is_train: bool) -> None:
    """The model's options (--amp is with --gpu_ids in shared_arguments), then the chosen generator's and (training) discriminator's."""
    parser.add_argument('--cpu_allocator', type=str, default='retain', choices=['retain', 'system'],
                        help='on the CPU: retain (keep freed memory for reuse, faster) or system (the C library default)')
    GENERATOR_OPTIONS[parser.selected('netG')](parser, is_train)
    if is_train:
        DISCRIMINATOR_OPTIONS.get(parser.selected('netD'), lambda *_: None)(parser, is_train)


def option_owners(is_train: bool) -> Dict[str, str]:
    """{option: '--netG spade'} for every option that a generator or discriminator declares, to say whose an
    option is when it is given with another network."""
    owners = {}
    for flag, table in (('--netG', GENERATOR_OPTIONS), ('--netD', DISCRIMINATOR_OPTIONS)):
        for name, add_options in table.items():
            parser = OptionParser()
            add_options(parser, is_train)
            for dest in parser.declared:
                owners.setdefault(dest, f'{flag} {name}')
    return owners
