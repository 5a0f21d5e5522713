"""Command-line options shared by training and testing, with the reference's names and defaults.

Here the experiment, data and sizes; the model's options in options/network_options.py, each network's beside
its class (models.networks.registry),
each dataset's in its `modify_commandline_options`. An option that decides
the networks' shapes is declared with `architecture=True`: test.py and --continue_train take it from the
training run's opt.json.
"""
import argparse
import os
import sys
from typing import List, Optional, Tuple

import data
import models.networks
from data.base_dataset import REFERENCE_DATAROOT
from data.classes import label_channels
from util.checkpoint import CheckpointStore
from util.device import distributed_on_gpus
from util.errors import UserError
from .network_options import add_model_options, option_owners
from models.networks.base_network import WEIGHT_INITS
from models.networks.limits import limited_int
from util.arguments import float_in, int_in
from .parser import OptionParser
from .shared_arguments import add_device_arguments, add_run_arguments


# Data-loading workers are processes: a few per CPU keep the loader ahead; thousands only exhaust the process table.
WORKERS_PER_CPU = 4
MAX_WORKERS = WORKERS_PER_CPU * (os.cpu_count() or 1)
# How and where this process runs, not what the run is: a resumed run takes them from the command line (or their
# defaults), never from its opt.json.
PROCESS_OPTIONS = frozenset({'continue_train', 'which_epoch', 'load_from_opt_file', 'overwrite', 'name',
                             'checkpoints_dir', 'gpu_ids', 'nThreads', 'cpu_allocator', 'print_options'})


class BaseOptions:
    isTrain: bool

    def initialize(self, parser: OptionParser) -> OptionParser:
        # Experiment.
        add_run_arguments(parser)
        self.add_model_option(parser)
        parser.add_argument('--norm_G', type=str, default='spectralsync_batch', architecture=True,
                            help='[spectral]{instance,batch,sync_batch,none} for the generator\'s label pyramid')
        parser.add_argument('--norm_D', type=str, default='spectralinstance', architecture=True,
                            help='[spectral]{instance,batch,sync_batch,none} for the discriminator')
        parser.add_argument('--norm_E', type=str, default='spectralinstance', architecture=True,
                            help='[spectral]{instance,batch,sync_batch,none} for the VAE encoder')
        parser.add_argument('--phase', type=str, default='train', help='train, val, test')
        add_device_arguments(parser)
        parser.add_argument('--seed', type=int_in(0, 2 ** 32 - 1), default=0,
                            help='seed for weights, shuffling, augmentation and noise')
        # The reference's own launcher flags (its train.sh passes them); torchrun's environment decides now.
        parser.add_ignored_argument('--mpdist', 'start with torchrun to train on several processes',
                                    action='store_true')
        parser.add_ignored_argument('--dist_url', 'torchrun provides the rendezvous (--rdzv_endpoint)', type=str,
                                    default='env://')
        parser.add_ignored_argument('--num_servers', 'use torchrun --nnodes', type=int, default=1)
        parser.add_ignored_argument('--idx_server', 'use torchrun --node_rank', type=int, default=0)
        parser.add_ignored_argument('--ngpus_per_node', 'use torchrun --nproc_per_node', type=int, default=8)

        # Input and output sizes.
        parser.add_argument('--batchSize', type=int_in(1), default=32, help='input batch size per process')
        parser.add_argument('--preprocess_mode', type=str, default='scale_width_and_crop',
                            help='scaling and cropping of images at load time',
                            choices=('resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop',
                                     'scale_shortside', 'scale_shortside_and_crop', 'fixed', 'none'))
        parser.add_argument('--load_size', type=limited_int('load_size'), default=1024,
                            help='scale images to this size, then crop to --crop_size')
        parser.add_argument('--crop_size', type=limited_int('crop_size'), default=512, architecture=True,
                            help='crop to this width (after scaling to --load_size)')
        parser.add_argument('--aspect_ratio', type=float_in(0.1, 10.0), default=1.0, architecture=True,
                            help='width / height of the generated image')
        parser.add_argument('--label_nc', type=limited_int('label_nc'), default=182, architecture=True,
                            help='number of label classes, not counting the don\'t-care label')
        parser.add_argument('--contain_dontcare_label', action='store_true', architecture=True,
                            help='the label maps contain a don\'t-care label (255)')
        parser.add_argument('--output_nc', type=limited_int('output_nc'), default=3, architecture=True,
                            help='number of channels of the generated image (the discriminator and encoder read as '
                                 'many)')

        # Data.
        parser.add_argument('--dataroot', type=str, default=REFERENCE_DATAROOT)
        parser.add_argument('--dataset_mode', type=str, default='coco', choices=data.dataset_names(), architecture=True)
        parser.add_argument('--serial_batches', action='store_true', help='take images in order instead of shuffling')
        parser.add_argument('--no_flip', action='store_true', help='do not flip images for augmentation')
        parser.add_argument('--nThreads', default=0, type=int_in(0, MAX_WORKERS),
                            help=f'data loading worker processes (each a process: at most {WORKERS_PER_CPU} per CPU)')
        parser.add_argument('--max_dataset_size', type=int_in(1), default=sys.maxsize,
                            help='use at most this many samples')
        parser.add_argument('--load_from_opt_file', action='store_true',
                            help='take defaults from the options saved in the checkpoint folder')
        parser.add_argument('--cache_filelist_write', action='store_true',
                            help='write the file list of each folder to files.list')
        parser.add_argument('--cache_filelist_read', action='store_true',
                            help='read the file list of each folder from files.list')

        # Display.
        parser.add_argument('--print_options', action='store_true',
                            help='print the table of every option at the start (it is always written to opt.txt in '
                                 'the run folder)')
        parser.add_argument('--display_winsize', type=int_in(1), default=400, help='width of images on the HTML pages')

        # Networks shared by training and testing (each generator adds its own options).
        parser.add_argument('--netG', type=str, default='condconv', choices=models.networks.generator_names(),
                            architecture=True)
        parser.add_argument('--ngf', type=limited_int('ngf'), default=64, architecture=True, help='generator width')
        parser.add_argument('--init_type', type=str, default='xavier', choices=list(WEIGHT_INITS))
        parser.add_argument('--init_variance', type=float_in(0), default=0.02, help='scale of the initialisation')
        parser.add_argument('--z_dim', type=limited_int('z_dim'), default=256, architecture=True,
                            help='dimension of the latent z vector')

        # Instance maps and VAE.
        parser.add_argument('--no_instance', action='store_true', architecture=True,
                            help='do not add the instance edge map as input')
        parser.add_ignored_argument('--nef', "the reference's encoder is as wide as --ngf", type=int, default=16)
        parser.add_argument('--use_vae', action='store_true', architecture=True,
                            help='train with the VAE style encoder')
        return parser

    def add_model_option(self, parser: OptionParser) -> None:
        """--model: the training objective (TrainOptions) or the model to test (TestOptions); the reference's one
        value, pix2pix, keeps its meaning in both."""
        raise NotImplementedError

    def build_parser(self, args: List[str]) -> OptionParser:
        """The full parser: base options, then the model's, networks' and dataset's additions and defaults.

        Two passes over the command line: one to learn the run, model, networks and dataset, one over the full
        parser (in `parse`). The training run's architecture options (testing, --continue_train) and, with
        --load_from_opt_file, all its options become defaults, so the command line still wins.
        """
        parser = self.initialize(OptionParser())
        given, _ = parser.parse_given(args)
        run = {k: given.get(k, parser.get_default(k)) for k in ('checkpoints_dir', 'name', 'continue_train',
                                                                'load_from_opt_file')}
        store = CheckpointStore(run['checkpoints_dir'], run['name'])
        self.saved_options, self.saved_options_path = self.saved_run_options(store, run)
        parser.selection = {**self.saved_defaults(parser, run), **given}
        add_model_options(parser, self.isTrain)
        data.get_option_setter(parser.selected('dataset_mode'))(parser, self.isTrain)
        parser.add_argument('-h', '--help', action='help', default=argparse.SUPPRESS,
                            help='show this help message and exit')
        return parser

    def saved_run_options(self, store: CheckpointStore, run: dict) -> Tuple[dict, str]:
        """(the saved run's options, the file they come from)."""
        return store.read_options() if self.reads_saved_run(run) else {}, store.path('opt.json')

    def reads_saved_run(self, run: dict) -> bool:
        return run['load_from_opt_file'] or not self.isTrain or run['continue_train']

    def resumes(self, run_opt: dict) -> bool:
        return self.isTrain and bool(run_opt['continue_train'])

    def saved_defaults(self, parser: OptionParser, run_opt: dict) -> dict:
        """The saved run's values that replace defaults: all of them with --load_from_opt_file; all but how this
        process runs when resuming (--continue_train: the run goes on as it was trained); else the architecture
        options (this parser's)."""
        if run_opt['load_from_opt_file']:
            if not self.saved_options:
                folder = os.path.join(run_opt['checkpoints_dir'], run_opt['name'])
                raise UserError(f'no saved options at {os.path.join(folder, "opt.json")}: train the experiment first '
                                'or drop --load_from_opt_file')
            return self.checked({k: v for k, v in self.saved_options.items() if k in parser.declared and v is not None},
                                parser)
        if self.resumes(run_opt):
            return self.checked({k: v for k, v in self.saved_options.items()
                                 if k in parser.declared and v is not None and k not in PROCESS_OPTIONS}, parser)
        return self.checked({k: v for k, v in self.saved_options.items() if k in parser.architecture_options}, parser)

    def checked(self, saved: dict, parser: OptionParser) -> dict:
        """Saved values pass the checks the command line's pass, so that an edited opt.json cannot bring in
        `ngf -4` or `use_vae "false"`."""
        for dest, value in saved.items():
            problem = parser.value_problem(dest, value)
            if problem:
                raise UserError(f'{self.saved_options_path}: {dest} {problem}: restore the file (or give --{dest} '
                                'on the command line and drop --load_from_opt_file)')
        return saved

    def parse(self, args: Optional[List[str]] = None, quiet: bool = False) -> argparse.Namespace:
        """Parse `args` (default: sys.argv). Writes nothing and checks no dataset path; reads only the saved options
        of --name when testing or continuing it. Prints only notes on ignored options (none when `quiet`): the
        scripts print the options table once their run has passed its checks, so a failed start shows its error."""
        args = sys.argv[1:] if args is None else list(args)
        self.parser = parser = self.build_parser(args)
        given, unknown = parser.parse_given(args)
        if unknown:
            self.reject_other_networks_options(parser, unknown)
            parser.error(f'unrecognized arguments: {" ".join(unknown)}')
        values = {dest: parser.get_default(dest) for dest in parser.declared if dest != 'help'}
        saved = self.saved_defaults(parser, {**values, **given})
        opt = argparse.Namespace(**{**values, **saved, **given})
        differing = {k: v for k, v in saved.items() if k in given and given[k] != v}
        # Options given on resuming that differ from the run's: used, and named, so that nothing changes silently.
        self.changed_options = {} if parser.selected('load_from_opt_file') else \
            {k: v for k, v in differing.items() if k not in parser.architecture_options}
        if not parser.selected('load_from_opt_file'):
            conflicts = [f'--{k} {given[k]} (trained with {v})' for k, v in differing.items()
                         if k in parser.architecture_options]
            if conflicts:
                raise UserError(f'options differ from the model\'s saved in {self.saved_options_path}: '
                                f'{", ".join(conflicts)}; drop them to use the saved values')
        opt.isTrain = self.isTrain
        finish_options(opt)
        if not quiet:
            for dest in sorted(set(given) & set(parser.ignored_options)):
                print(f'note: --{dest} is ignored: {parser.ignored_options[dest]}')
            if self.changed_options:
                changes = ', '.join(f'--{k} {given[k]} (the run had {v})' for k,
                                    v in sorted(self.changed_options.items()))
                print(f'note: resuming with options that differ from the run\'s opt.json: {changes}')
        return opt

    def reject_other_networks_options(self, parser: OptionParser, unknown: List[str]) -> None:
        """An option of a network other than the chosen one gets a line that says whose it is."""
        owners = option_owners(self.isTrain)
        for arg in unknown:
            dest = arg.lstrip('-').split('=')[0]
            if arg.startswith('--') and dest in owners:
                chosen = owners[dest].split()[0]
                parser.error(f'--{dest} is an option of {owners[dest]}, not of {chosen} {parser.selected(chosen[2:])}: '
                             f'drop it or choose {owners[dest]}')

    def format_options(self, opt: argparse.Namespace) -> str:
        lines = ['----------------- Options ---------------']
        reads_dataroot = data.find_dataset_using_name(opt.dataset_mode).reads_dataroot
        for key, value in sorted(vars(opt).items()):
            default = self.parser.get_default(key)
            comment = f'\t[default: {default}]' if default is not None and value != default else ''
            if key == 'dataroot' and not reads_dataroot:  # its default names Cityscapes' folder, for every mode
                value, comment = f'(not read by --dataset_mode {opt.dataset_mode})', ''
            lines.append(f'{key:>25}: {str(value):<30}{comment}')
        lines.append('----------------- End -------------------')
        return '\n'.join(lines)

    def save_options(self, opt: argparse.Namespace) -> None:
        """Write the options table to opt.txt (for people) and opt.json (for the code) in checkpoints/<name>/, and
        print it with --print_options (else one line saying where it is)."""
        store, table = CheckpointStore(opt.checkpoints_dir, opt.name), self.format_options(opt)
        store.write_options(table, options_to_dict(opt))
        print(table if opt.print_options else f'options: {store.path("opt.txt")} (--print_options prints them)')


def finish_options(opt: argparse.Namespace) -> None:
    """Fill the options derived from others: computed here once, read everywhere else."""
    opt.num_labels = label_channels(opt.label_nc, opt.contain_dontcare_label)
    opt.semantic_nc = opt.num_labels + (0 if opt.no_instance else 1)
    # SyncBatchNorm has no CPU kernel: on CPU every process normalises with its own batch statistics.
    opt.sync_bn = opt.isTrain and distributed_on_gpus(opt.gpu_ids)
    if opt.isTrain and opt.niter + opt.niter_decay < 1 and not opt.debug:
        raise UserError(f'--niter {opt.niter} --niter_decay {opt.niter_decay}: nothing to train; give at least one '
                        f'epoch')


def options_to_dict(opt: argparse.Namespace) -> dict:
    return {k: (None if isinstance(v, float) and v in (float('inf'), float('-inf')) else v)
            for k, v in vars(opt).items() if isinstance(v, (str, int, float, bool, type(None)))}
