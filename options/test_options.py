"""Options for testing, with the reference's names and defaults."""
from .base_options import BaseOptions, OptionParser


class TestOptions(BaseOptions):
    isTrain = False

    def initialize(self, parser: OptionParser) -> OptionParser:
        BaseOptions.initialize(self, parser)
        parser.add_argument('--results_dir', type=str, default='./results/', help='results are saved here')
        parser.add_argument('--which_epoch', type=str, default='latest', help='which epoch to load')
        parser.add_argument('--how_many', type=int, default=float('inf'), help='how many test images to run')
        parser.add_argument('--use_ema', action='store_true', help='synthesise with the moving-average generator (<epoch>_net_G_ema.pth)')
        parser.set_defaults(preprocess_mode='scale_width_and_crop', crop_size=256, load_size=256, display_winsize=256)
        parser.set_defaults(serial_batches=True, no_flip=True, phase='test')
        return parser
