"""Options for testing, with the reference's names and defaults."""
import argparse
import os
import sys
from typing import Any, Dict, List, Optional

from models.from_options import runtime_from_options, spec_from_options
from models.method_registry import REFERENCE_METHOD
from models.sources import ResolvedModel, preset_names, resolve, source_name
from models.synthesis_job import SplitJob
from util.arguments import int_in
from util.checkpoint import NETWORKS_FILE, CheckpointStore
from util.errors import UserError
from .base_options import BaseOptions, OptionParser
from .data_settings import data_settings
from .shared_arguments import (DEFAULT_CHECKPOINTS_DIR, DEFAULT_NAME, SAMPLING_OPTIONS, add_ema_argument,
                               add_epoch_argument, add_preset_argument, add_sampling_arguments, sampling_of)
from .synthesis_options import chosen_model


# The options that change pixels or which samples are made: a rerun with other values starts over.
DECISIVE_OPTIONS = ('dataset_mode', 'phase', 'seed', 'batchSize', 'amp', 'use_ema', 'preprocess_mode', 'load_size',
                    'crop_size', 'aspect_ratio', 'no_instance', 'label_nc', 'contain_dontcare_label',
                    *SAMPLING_OPTIONS)


def spec_defaults(model: ResolvedModel) -> Dict[str, Any]:
    """What a model's spec says of the options the data and the options table read: its inputs, its generator and
    its style."""
    spec = model.spec
    inputs = {name: value for name, value in vars(spec.inputs).items() if value is not None}
    return {**inputs, 'netG': spec.generator.name, 'use_vae': spec.use_vae,
            **({'z_dim': spec.z_dim} if spec.z_dim is not None else {})}


class TestOptions(BaseOptions):
    isTrain = False
    # The model to test, found once while parsing (None: released files described by the command line's options,
    # see `model_of`). Its spec decides the architecture; a run folder's opt.json also gives the data's options.
    model: Optional[ResolvedModel] = None

    def add_model_option(self, parser: OptionParser) -> None:
        parser.add_argument('--model', type=str, default=REFERENCE_METHOD, metavar='SOURCE',
                            help=f'the model to test: {REFERENCE_METHOD} (the reference\'s value) for the run of '
                                 f'--name '
                                 'in --checkpoints_dir; or a model folder of scripts/convert_checkpoint.py, a run '
                                 'folder, or a Hugging Face Hub id owner/name')

    def initialize(self, parser: OptionParser) -> OptionParser:
        BaseOptions.initialize(self, parser)
        parser.add_argument('--results_dir', type=str, default='./results/', help='results are saved here')
        add_epoch_argument(parser)
        parser.add_argument('--how_many', type=int_in(1), default=float('inf'), help='how many test images to run')
        add_ema_argument(parser)
        add_preset_argument(parser)
        add_sampling_arguments(parser)
        parser.set_defaults(preprocess_mode='scale_width_and_crop', crop_size=256, load_size=256, display_winsize=256)
        parser.set_defaults(serial_batches=True, no_flip=True, phase='test')
        return parser

    def saved_run_options(self, store: CheckpointStore, run: dict):
        """A run folder's opt.json (the reference reads the architecture from it); else what the model's spec says."""
        if self.model is None or (self.model.described_by_its_folder and os.path.isfile(store.path('opt.json'))):
            return super().saved_run_options(store, run)
        return spec_defaults(self.model), self.model.spec_file

    def parse(self, args: Optional[List[str]] = None, quiet: bool = False) -> argparse.Namespace:
        """As BaseOptions.parse, with the model found once (`self.model`): `--model SOURCE` (a run folder is its
        --checkpoints_dir and --name; a model folder or Hub id also names the results folder unless --name is
        given), or the run of --name, described by `--preset NAME` for the released files. An architecture option
        given on the command line must agree with the model's spec."""
        args = sys.argv[1:] if args is None else list(args)
        args = self.find_model(args)
        opt = super().parse(args, quiet)
        if self.model is not None and self.saved_options_path == self.model.spec_file:
            given, _ = self.parser.parse_given(args)
            other = sorted(set(given) & self.parser.architecture_options - set(self.saved_options))
            if other:
                raise UserError(f'--{other[0]}: the architecture of {self.model.folder} comes from '
                                f'{self.model.spec_file}; drop the option')
        return opt

    def find_model(self, args: List[str]) -> List[str]:
        """Find the model of `args` (options.synthesis_options.chosen_model) before the options are parsed, since its
        spec gives the architecture options' values; returns `args` with the run folder of a --model SOURCE as
        --checkpoints_dir and --name (or the source's name for the results folder)."""
        # Plain strings: the values are checked when the options are parsed.
        scan = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        for flag, default in (('--model', REFERENCE_METHOD), ('--name', None), ('--which_epoch', 'latest'),
                              ('--checkpoints_dir', DEFAULT_CHECKPOINTS_DIR), ('--preset', None)):
            scan.add_argument(flag, default=default)
        scan.add_argument('--use_ema', action='store_true')
        known = scan.parse_known_args(args)[0]
        model = None if known.model == REFERENCE_METHOD else known.model
        folder = os.path.join(known.checkpoints_dir, known.name or DEFAULT_NAME)
        preset = known.preset if known.preset in preset_names() else None  # another is argparse's to reject
        self.model = None
        if model is None and preset is None and \
                not any(os.path.isfile(os.path.join(folder, f)) for f in (NETWORKS_FILE, 'opt.json')):
            return args  # released files described by the command line's options (model_of)
        self.model = chosen_model(model, known.name or DEFAULT_NAME, known.checkpoints_dir, known.which_epoch,
                                  known.use_ema, preset)
        if model is None:
            return args
        if self.model.kind == 'run':
            folder = os.path.normpath(self.model.folder)
            return args + ['--model', REFERENCE_METHOD, '--checkpoints_dir', os.path.dirname(folder) or '.',
                           '--name', os.path.basename(folder)]
        return args if known.name else args + ['--name', source_name(model)]

    def model_of(self, opt: argparse.Namespace) -> ResolvedModel:
        """The model to test: the one found while parsing, or released files in --name's folder described by the
        command line's architecture options."""
        if self.model is not None:
            return self.model
        folder = os.path.join(opt.checkpoints_dir, opt.name)
        if not CheckpointStore(opt.checkpoints_dir, opt.name).epochs():
            raise UserError(f'{folder} holds no checkpoints (<epoch>_net_G.pth): check --name and --checkpoints_dir, '
                            f'or give --model SOURCE')
        return resolve(folder, opt.which_epoch, opt.use_ema, spec=spec_from_options(opt))

    def split_job(self, opt: argparse.Namespace) -> SplitJob:
        """test.py's job (models.synthesis_job) of parsed options."""
        return SplitJob(model=self.model_of(opt), gpu_ids=opt.gpu_ids, amp=opt.amp, runtime=runtime_from_options(opt),
                        data=data_settings(opt), how_many=opt.how_many, results_dir=opt.results_dir, name=opt.name,
                        phase=opt.phase, which_epoch=opt.which_epoch, display_winsize=opt.display_winsize,
                        record={'options': {name: getattr(opt, name) for name in DECISIVE_OPTIONS},
                                'dataroot': os.path.abspath(opt.dataroot)},
                        options_table=self.format_options(opt) if opt.print_options else '',
                        memory_budget=opt.memory_budget,
                        sampling=sampling_of(opt))
