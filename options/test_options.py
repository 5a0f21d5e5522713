"""Options for testing, with the reference's names and defaults."""
import argparse
import os
import sys
from typing import List, Optional

from models.from_options import options_of_spec
from models.pretrained import CONFIG_FILE, read_config, resolve_source, source_name
from util.checkpoint import CheckpointStore
from .base_options import REFERENCE_MODEL, BaseOptions, OptionParser
from util.arguments import int_in
from .presets import PRESET_HELP, PRESETS, with_preset
from .shared_arguments import add_ema_argument, add_epoch_argument


class TestOptions(BaseOptions):
    isTrain = False
    model_folder: Optional[str] = None  # a model folder given with --model, whose config.json stands for opt.json

    def add_model_option(self, parser: OptionParser) -> None:
        parser.add_argument('--model', type=str, default=REFERENCE_MODEL, metavar='SOURCE',
                            help=f'{REFERENCE_MODEL} (the reference\'s value): the run of --name; or a model folder of '
                                 'scripts/convert_checkpoint.py, a run folder or a Hugging Face Hub id owner/name')

    def initialize(self, parser: OptionParser) -> OptionParser:
        BaseOptions.initialize(self, parser)
        parser.add_argument('--results_dir', type=str, default='./results/', help='results are saved here')
        add_epoch_argument(parser)
        parser.add_argument('--how_many', type=int_in(1), default=float('inf'), help='how many test images to run')
        add_ema_argument(parser)
        parser.add_argument('--preset', type=str, default=None, choices=sorted(PRESETS), help=PRESET_HELP)
        parser.set_defaults(preprocess_mode='scale_width_and_crop', crop_size=256, load_size=256, display_winsize=256)
        parser.set_defaults(serial_batches=True, no_flip=True, phase='test')
        return parser

    def saved_run_options(self, store: CheckpointStore, run: dict):
        if self.model_folder is None:
            return super().saved_run_options(store, run)
        return options_of_spec(read_config(self.model_folder)), os.path.join(self.model_folder, CONFIG_FILE)

    def parse(self, args: Optional[List[str]] = None, quiet: bool = False) -> argparse.Namespace:
        """As BaseOptions.parse, with `--preset NAME` standing for the options of a released checkpoint and
        `--model SOURCE` for a model's: a run folder is its --checkpoints_dir and --name; a model folder (or Hub
        id) gives the architecture options from its config.json and, unless given, --name (the results folder)."""
        return super().parse(self.with_model_source(with_preset(sys.argv[1:] if args is None else list(args))), quiet)

    def with_model_source(self, args: List[str]) -> List[str]:
        scan = argparse.ArgumentParser(add_help=False)
        scan.add_argument('--model', default=REFERENCE_MODEL)
        scan.add_argument('--name')
        known = scan.parse_known_args(args)[0]
        self.model_folder = None
        if known.model == REFERENCE_MODEL:
            return args
        found = resolve_source(known.model)
        if found.kind == 'run':
            folder = os.path.normpath(found.folder)
            return args + ['--model', REFERENCE_MODEL, '--checkpoints_dir', os.path.dirname(folder) or '.',
                           '--name', os.path.basename(folder)]
        self.model_folder = found.folder
        return args if known.name else args + ['--name', source_name(known.model)]
