"""Options for training, with the reference's names and defaults."""
import argparse
import sys
from typing import List, Optional

import models.networks
from util import fid
from util.checkpoint import CheckpointStore
from util.distributed import elastic_restart_count, launched_rank
from models import method_registry
from models.networks.loss import GAN_MODES
from .base_options import BaseOptions, OptionParser
from models.networks.limits import limited_int
from util.arguments import float_in, int_in
from .shared_arguments import add_epoch_argument


class TrainOptions(BaseOptions):
    isTrain = True

    def add_model_option(self, parser: OptionParser) -> None:
        methods = method_registry.names()
        parser.add_argument('--model', type=str, default=method_registry.REFERENCE_METHOD, choices=methods,
                            architecture=True, help='the method (models/methods/<name>/): ' + '; '.join(
                                f'{name} ({method_registry.method(name).summary})' for name in methods))

    def initialize(self, parser: OptionParser) -> OptionParser:
        BaseOptions.initialize(self, parser)
        # Display and saving.
        parser.add_argument('--display_freq', type=int_in(1), default=100,
                            help='refresh the training page every this many iterations')
        parser.add_argument('--print_freq', type=int_in(1), default=100,
                            help='write losses to loss_log.txt every this many iterations')
        parser.add_argument('--save_latest_freq', type=int_in(1), default=5000,
                            help='save the latest checkpoint every this many iterations')
        parser.add_argument('--save_epoch_freq', type=int_in(1), default=10,
                            help='save a numbered checkpoint every this many epochs')
        parser.add_argument('--no_html', action='store_true',
                            help='do not write the training page checkpoints/<name>/web/')
        parser.add_argument('--debug', action='store_true', help='only one epoch, with displays at each iteration')
        parser.add_argument('--tf_log', action='store_true',
                            help='write TensorBoard events (needs the tensorboard package)')

        # Training.
        parser.add_argument('--continue_train', action='store_true', help='continue training from --which_epoch')
        parser.add_argument('--overwrite', action='store_true',
                            help='start over in a run folder that holds checkpoints, replacing them (without it, '
                                 'train.py refuses to)')
        parser.add_argument('--init_from', type=str, default='', metavar='SOURCE',
                            help='fine-tune: a new run starts from the weights of SOURCE (a run folder at '
                                 '--which_epoch, a model folder or a Hub id) with a fresh optimizer, average and '
                                 'count, so that its own --lr applies (SDM\'s guidance fine-tuning); --continue_train '
                                 'resumes the run itself instead')
        add_epoch_argument(parser)
        parser.add_argument('--niter', type=int_in(0), default=50, help='epochs at the initial learning rate')
        parser.add_argument('--niter_decay', type=int_in(0), default=0,
                            help='epochs of linear learning-rate decay to zero after --niter')
        parser.add_ignored_argument('--optimizer', 'both networks train with Adam, as the reference', type=str,
                                    default='adam', choices=['adam'])
        parser.add_argument('--beta1', type=float_in(0, 1, high_included=False), default=0.5,
                            help='Adam beta1 (only with --no_TTUR)')
        parser.add_argument('--beta2', type=float_in(0, 1, high_included=False), default=0.999,
                            help='Adam beta2 (only with --no_TTUR)')
        parser.add_argument('--lr', type=float_in(0), default=0.0002, help='initial learning rate')

        # Discriminator and losses.
        parser.add_argument('--ndf', type=limited_int('ndf'), default=64, architecture=True, help='discriminator width')
        parser.add_argument('--lambda_feat', type=float_in(0), default=10.0, help='weight of the feature matching loss')
        parser.add_argument('--lambda_vgg', type=float_in(0), default=10.0, help='weight of the VGG loss')
        parser.add_argument('--no_ganFeat_loss', action='store_true', help='no discriminator feature matching loss')
        parser.add_argument('--no_vgg_loss', action='store_true', help='no VGG perceptual loss')
        parser.add_argument('--vgg_weights', type=str, default='',
                            help="VGG19 state_dict (torchvision layout) for the VGG loss; default: torchvision's "
                                 "ImageNet weights")
        parser.add_argument('--gan_mode', type=str, default='hinge', choices=GAN_MODES)
        parser.add_argument('--netD', type=str, default='fpse', choices=models.networks.discriminator_names(),
                            architecture=True)
        parser.add_argument('--netD_subarch', type=str, default='n_layer', choices=['n_layer'], architecture=True,
                            help='architecture of each --netD multiscale discriminator (the FPSE discriminator has '
                                 'none)')
        parser.add_argument('--no_TTUR', action='store_true', help='no two time-scale update rule')
        parser.add_argument('--lambda_kld', type=float_in(0), default=0.05, help='weight of the KL divergence loss')

        # Evaluation during training.
        parser.add_argument('--ema_decay', type=float_in(0, 1, high_included=False), default=0.0,
                            help='keep an exponential moving average of G with this decay (e.g. 0.999); 0 = off')
        parser.add_argument('--fid_freq', type=int_in(0), default=0,
                            help='FID on the validation split every this many iterations (0 = never); the best is '
                                 'saved as best_net_*.pth')
        parser.add_argument('--eval_freq', type=int_in(0), default=0,
                            help="FID and the paper's protocol's mIoU and accuracy (the dataset's segmenter; coco, "
                                 "ade20k, cityscapes) on the validation split every this many iterations (0 = never)")
        parser.add_argument('--segmenter_weights', type=str, default=None,
                            help='the protocol segmenter\'s published file for --eval_freq (UPerNet: the folder of its '
                                 'two files); default: downloaded once into the torch hub cache')
        parser.add_argument('--best_metric', type=str, default='fid', choices=['fid', 'miou', 'accuracy'],
                            help='the score that picks best_net_*.pth (miou and accuracy need --eval_freq)')
        parser.add_argument('--fid_num_images', type=int_in(0), default=0,
                            help='validation images used for FID (and --eval_freq) during training (0 = all)')
        parser.add_argument('--fid_dims', type=int, default=fid.PAPER_DIMS, choices=fid.DIMS,
                            help="pytorch-fid's --dims for --fid_freq: 2048 (pool3) as papers report; a smaller size "
                                 "for fewer than 2048 validation images")
        parser.add_argument('--inception_weights', type=str, default='',
                            help="pytorch-fid's Inception weights file for --fid_freq; default: download")
        return parser

    def parse(self, args: Optional[List[str]] = None, quiet: bool = False) -> argparse.Namespace:
        """As BaseOptions.parse; a worker group that torchrun restarts (--max-restarts) after a lost worker resumes
        its run from `latest` when there is one (the command line it reruns has no --continue_train)."""
        args = sys.argv[1:] if args is None else list(args)
        opt = super().parse(args, quiet)
        restarts = elastic_restart_count()
        if restarts and not opt.continue_train and 'latest' in CheckpointStore(opt.checkpoints_dir, opt.name).epochs():
            if launched_rank() == 0 and not quiet:
                print(f'note: torchrun restarted the workers (restart {restarts}): resuming from latest')
            opt = super().parse(args + ['--continue_train', '--which_epoch', 'latest'], quiet)
        return opt
