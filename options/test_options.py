"""Options for testing, with the reference's names and defaults."""
import argparse
import sys
from typing import List, Optional

from .base_options import BaseOptions, OptionParser
from util.arguments import int_in
from .presets import PRESET_HELP, PRESETS, with_preset
from .shared_arguments import add_ema_argument, add_epoch_argument


class TestOptions(BaseOptions):
    isTrain = False

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

    def parse(self, args: Optional[List[str]] = None, quiet: bool = False) -> argparse.Namespace:
        """As BaseOptions.parse, with `--preset NAME` standing for the options of a released checkpoint."""
        return super().parse(with_preset(sys.argv[1:] if args is None else list(args)), quiet)
