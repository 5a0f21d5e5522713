"""Command-line options shared by training and testing, with the reference's names and defaults."""
import argparse
import json
import os
import sys
from typing import List, Optional, Set

import data
import models
import models.networks


# Options that decide the networks' shapes: test.py and --continue_train take them from the training run.
ARCHITECTURE_OPTIONS = ('dataset_mode', 'netG', 'ngf', 'norm_G', 'norm_E', 'label_nc', 'contain_dontcare_label',
                        'no_instance', 'use_vae', 'z_dim', 'crop_size', 'aspect_ratio')
TRAINING_ARCHITECTURE_OPTIONS = ARCHITECTURE_OPTIONS + ('netD', 'ndf', 'norm_D')


class OptionParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line instead of the full usage text."""

    def error(self, message: str):
        print(f'error: {message} (see --help)', file=sys.stderr)
        sys.exit(2)


class BaseOptions:
    isTrain: bool

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        # Experiment.
        parser.add_argument('--name', type=str, default='CC-FPSE_coco', help='name of the experiment: where checkpoints and results go')
        parser.add_argument('--checkpoints_dir', type=str, default='./checkpoints', help='models are saved here')
        parser.add_argument('--model', type=str, default='pix2pix', choices=['pix2pix'], help='which model to use')
        parser.add_argument('--norm_G', type=str, default='spectralsync_batch', help='[spectral]{instance,batch,sync_batch,none} for the generator\'s label pyramid')
        parser.add_argument('--norm_D', type=str, default='spectralinstance', help='[spectral]{instance,batch,sync_batch,none} for the discriminator')
        parser.add_argument('--norm_E', type=str, default='spectralinstance', help='[spectral]{instance,batch,sync_batch,none} for the VAE encoder')
        parser.add_argument('--phase', type=str, default='train', help='train, val, test')
        parser.add_argument('--gpu_ids', type=str, default='0', help='GPU to use; -1 for the CPU. Falls back to the CPU when no GPU is present. Under torchrun each process takes its LOCAL_RANK GPU')
        parser.add_argument('--seed', type=int, default=0, help='seed for weights, shuffling, augmentation and noise')
        # Kept for command-line compatibility with the reference; torchrun's environment now decides distribution.
        parser.add_argument('--mpdist', action='store_true', help='ignored: start with torchrun to train on several processes')
        parser.add_argument('--dist_url', type=str, default='env://', help='ignored: torchrun provides the rendezvous (--rdzv_endpoint)')
        parser.add_argument('--num_servers', type=int, default=1, help='ignored: use torchrun --nnodes')
        parser.add_argument('--idx_server', type=int, default=0, help='ignored: use torchrun --node_rank')
        parser.add_argument('--ngpus_per_node', type=int, default=8, help='ignored: use torchrun --nproc_per_node')

        # Input and output sizes.
        parser.add_argument('--batchSize', type=int, default=32, help='input batch size per process')
        parser.add_argument('--preprocess_mode', type=str, default='scale_width_and_crop', help='scaling and cropping of images at load time',
                            choices=('resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'scale_shortside', 'scale_shortside_and_crop', 'fixed', 'none'))
        parser.add_argument('--load_size', type=int, default=1024, help='scale images to this size, then crop to --crop_size')
        parser.add_argument('--crop_size', type=int, default=512, help='crop to this width (after scaling to --load_size)')
        parser.add_argument('--aspect_ratio', type=float, default=1.0, help='width / height of the generated image')
        parser.add_argument('--label_nc', type=int, default=182, help='number of label classes, not counting the don\'t-care label')
        parser.add_argument('--contain_dontcare_label', action='store_true', help='the label maps contain a don\'t-care label (255)')
        parser.add_argument('--output_nc', type=int, default=3, help='number of output image channels')

        # Data.
        parser.add_argument('--dataroot', type=str, default='./datasets/cityscapes/')
        parser.add_argument('--dataset_mode', type=str, default='coco', choices=data.dataset_names())
        parser.add_argument('--serial_batches', action='store_true', help='take images in order instead of shuffling')
        parser.add_argument('--no_flip', action='store_true', help='do not flip images for augmentation')
        parser.add_argument('--nThreads', default=0, type=int, help='data loading worker processes')
        parser.add_argument('--max_dataset_size', type=int, default=sys.maxsize, help='use at most this many samples')
        parser.add_argument('--load_from_opt_file', action='store_true', help='take defaults from the options saved in the checkpoint folder')
        parser.add_argument('--cache_filelist_write', action='store_true', help='write the file list of each folder to files.list')
        parser.add_argument('--cache_filelist_read', action='store_true', help='read the file list of each folder from files.list')

        # Display.
        parser.add_argument('--display_winsize', type=int, default=400, help='width of images on the HTML pages')

        # Generator.
        parser.add_argument('--netG', type=str, default='condconv', choices=models.networks.generator_names())
        parser.add_argument('--ngf', type=int, default=64, help='generator width')
        parser.add_argument('--init_type', type=str, default='xavier', choices=['normal', 'xavier', 'xavier_uniform', 'kaiming', 'orthogonal', 'none'])
        parser.add_argument('--init_variance', type=float, default=0.02, help='scale of the initialisation')
        parser.add_argument('--z_dim', type=int, default=256, help='dimension of the latent z vector')
        parser.add_argument('--depthconv_impl', type=str, default='lean', choices=['lean', 'unfold'],
                            help='conditional depthwise convolution: lean (never builds the unfolded input) or unfold (the reference formulation); same numbers')
        parser.add_argument('--predictor_impl', type=str, default='fused', choices=['fused', 'reference'],
                            help="kernel/attention predictors: fused (a block's first layers as one convolution that skips "
                                 "label channels absent from the batch; with --depthconv_impl lean, kernel maps predicted "
                                 "tap-major, or a tap at a time without autograd, channels-last on CPU) or reference (one "
                                 "convolution each, whole kernel maps in the released order); same numbers")

        parser.add_argument('--amp', type=str, default='off', choices=['off', 'bf16', 'fp16'],
                            help='mixed precision for G, D, E and the losses (off = float32, the faithful numbers)')
        parser.add_argument('--cpu_allocator', type=str, default='retain', choices=['retain', 'system'],
                            help='on the CPU: retain (keep freed memory for reuse, faster) or system (the C library default)')
        parser.add_argument('--checkpoint_predictors', action='store_true',
                            help='recompute the per-pixel kernels in backward instead of keeping them: less memory, more time')

        # Instance maps and VAE.
        parser.add_argument('--no_instance', action='store_true', help='do not add the instance edge map as input')
        parser.add_argument('--nef', type=int, default=16, help='unused by CC-FPSE; kept for command-line compatibility')
        parser.add_argument('--use_vae', action='store_true', help='train with the VAE style encoder')
        return parser

    def build_parser(self, args: List[str]) -> argparse.ArgumentParser:
        """The full parser: base options, then the model's and the dataset's additions and defaults."""
        parser = OptionParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        parser.args = args  # option setters that peek at the command line read these, not sys.argv
        parser = self.initialize(parser)
        opt, _ = parser.parse_known_args(args)
        self.saved_architecture = self.saved_architecture_options(opt)
        parser.set_defaults(**self.saved_architecture)
        opt, _ = parser.parse_known_args(args)
        parser = models.get_option_setter(opt.model)(parser, self.isTrain)
        parser = data.get_option_setter(opt.dataset_mode)(parser, self.isTrain)
        parser.set_defaults(**self.saved_architecture)  # the training run's values beat dataset defaults
        opt, _ = parser.parse_known_args(args)
        if opt.load_from_opt_file:
            saved = load_saved_options(opt.checkpoints_dir, opt.name)
            parser.set_defaults(**{k: v for k, v in saved.items() if hasattr(opt, k)})
        return parser

    def saved_architecture_options(self, opt: argparse.Namespace) -> dict:
        """The architecture options of an earlier training run of --name, when testing or continuing it."""
        if self.isTrain and not opt.continue_train:
            return {}
        path = os.path.join(opt.checkpoints_dir, opt.name, 'opt.json')
        if not os.path.isfile(path):
            return {}
        with open(path) as f:
            saved = json.load(f)
        keys = TRAINING_ARCHITECTURE_OPTIONS if self.isTrain else ARCHITECTURE_OPTIONS
        return {k: saved[k] for k in keys if k in saved}

    def parse(self, args: Optional[List[str]] = None, quiet: bool = False) -> argparse.Namespace:
        """Parse `args` (default: sys.argv). Writes nothing and checks no dataset path; reads only the saved options
        of --name when testing or continuing it."""
        args = sys.argv[1:] if args is None else list(args)
        self.parser = self.build_parser(args)
        opt = self.parser.parse_args(args)
        self.explicit_options = explicitly_given(self.parser, args)
        conflicts = [f'--{k} {getattr(opt, k)} (trained with {v})' for k, v in self.saved_architecture.items()
                     if k in self.explicit_options and getattr(opt, k) != v]
        if conflicts:
            from util.errors import UserError
            raise UserError(f'options differ from the training run saved in {os.path.join(opt.checkpoints_dir, opt.name)}: '
                            f'{", ".join(conflicts)}; drop them to use the saved values')
        opt.isTrain = self.isTrain
        finish_options(opt)
        if not quiet:
            print(self.format_options(opt))
        self.opt = opt
        return opt

    def format_options(self, opt: argparse.Namespace) -> str:
        lines = ['----------------- Options ---------------']
        for key, value in sorted(vars(opt).items()):
            default = self.parser.get_default(key)
            comment = f'\t[default: {default}]' if default is not None and value != default else ''
            lines.append(f'{key:>25}: {str(value):<30}{comment}')
        lines.append('----------------- End -------------------')
        return '\n'.join(lines)

    def save_options(self, opt: argparse.Namespace) -> None:
        """opt.txt for people and opt.json for the code, in checkpoints/<name>/."""
        from util.checkpoint import atomic_write_text
        folder = os.path.join(opt.checkpoints_dir, opt.name)
        os.makedirs(folder, exist_ok=True)
        atomic_write_text(os.path.join(folder, 'opt.txt'), self.format_options(opt) + '\n')
        atomic_write_text(os.path.join(folder, 'opt.json'), json.dumps(options_to_dict(opt), indent=1, sort_keys=True))


def finish_options(opt: argparse.Namespace) -> None:
    """Fill the options derived from others."""
    opt.semantic_nc = opt.label_nc + (1 if opt.contain_dontcare_label else 0) + (0 if opt.no_instance else 1)


def options_to_dict(opt: argparse.Namespace) -> dict:
    return {k: (None if isinstance(v, float) and v in (float('inf'), float('-inf')) else v)
            for k, v in vars(opt).items() if isinstance(v, (str, int, float, bool, type(None)))}


def load_saved_options(checkpoints_dir: str, name: str) -> dict:
    from util.errors import UserError
    path = os.path.join(checkpoints_dir, name, 'opt.json')
    if not os.path.isfile(path):
        raise UserError(f'no saved options at {path}: train the experiment first or drop --load_from_opt_file')
    with open(path) as f:
        return {k: v for k, v in json.load(f).items() if v is not None}


def explicitly_given(parser: argparse.ArgumentParser, args: List[str]) -> Set[str]:
    """Names of the options that appear on the command line (as opposed to defaults)."""
    saved = {action.dest: action.default for action in parser._actions}
    try:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
        given, _ = parser.parse_known_args(args)
    finally:
        for action in parser._actions:
            action.default = saved[action.dest]
    return set(vars(given))
