"""OASISModel: OASIS's objective (boschresearch/OASIS's models.py) on its generator and segmentation discriminator,
behind the one forward(data, mode) of every method.

The generator is trained to make the discriminator segment its images into the right classes (class-balanced
(N+1)-class cross-entropy, the unlabelled class ignored); the discriminator to segment real images and to call
every pixel of generated ones "fake", with LabelMix (real and fake mixed along class regions, its logits asked to be
the same mix of the two) as its regulariser; an optional VGG term. No encoder: the generator draws its noise code.
"""
from dataclasses import dataclass

import torch

from util.arguments import float_in
from .base_model import EMAPolicy, TrainableModel
from .networks import VGGLoss
from .networks.loss import labelmix_loss, labelmix_mask, oasis_adversarial_loss


@dataclass(frozen=True)
class OASISLossSettings:
    """What OASIS optimises (the options of the same names; the public code's defaults)."""
    lambda_labelmix: float = 10.0
    add_vgg_loss: bool = False
    lambda_vgg: float = 10.0
    vgg_weights: str = ''   # a torchvision vgg19 state_dict; '' for torchvision's download


class OASISModel(TrainableModel):
    # As the public code: the average of every state entry (BatchNorm statistics and spectral-norm vectors too)
    # after each iteration, then, before every print, save and score, 51 training batches through it in training
    # mode to re-estimate its BatchNorm statistics (OASIS issue #21).
    ema_policy = EMAPolicy(after='discriminator', average_buffers=True, refresh='running', refresh_batches=51,
                           refresh_when_printing=True)

    def build_losses(self, losses: OASISLossSettings) -> None:
        # The unlabelled class (first in OASIS's label order) takes no part in the real images' loss.
        self.ignore_first = self.spec.inputs.label_order == 'unlabeled_first' and \
            self.spec.inputs.unlabeled_channel is not None
        if losses.add_vgg_loss:
            self.criterionVGG = VGGLoss(losses.vgg_weights).to(self.device)

    def compute_generator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        fake = self.netG(input_semantics)
        losses = {'G_adv': oasis_adversarial_loss(self.netD(fake), input_semantics, True, self.ignore_first)}
        if self.losses.add_vgg_loss:
            losses['VGG'] = self.losses.lambda_vgg * self.criterionVGG(fake, real_image)
        return losses, fake

    def compute_discriminator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        with torch.no_grad():
            fake = self.netG(input_semantics)
        logits_fake = self.netD(fake)
        logits_real = self.netD(real_image)
        mask = labelmix_mask(input_semantics)
        logits_mixed = self.netD(mask * real_image + (1 - mask) * fake)
        return {'D_fake': oasis_adversarial_loss(logits_fake, input_semantics, False, self.ignore_first),
                'D_real': oasis_adversarial_loss(logits_real, input_semantics, True, self.ignore_first),
                'LabelMix': self.losses.lambda_labelmix * labelmix_loss(mask, logits_mixed, logits_fake, logits_real)}


# The public code's per-dataset training settings (its config.py and scripts/train_*.sh): batch size (over its 4
# GPUs), epochs, learning rates, LabelMix weight and EMA decay; other datasets take its general defaults.
OASIS_DEFAULTS = {'batchSize': 32, 'niter': 200, 'lr_g': 0.0001, 'lr_d': 0.0004, 'lambda_labelmix': 10.0,
                  'ema_decay': 0.9999}
OASIS_DATASET_DEFAULTS = {
    'ade20k': {},
    'cityscapes': {'batchSize': 20, 'lr_g': 0.0004, 'lambda_labelmix': 5.0, 'ema_decay': 0.999},
    'coco': {'niter': 100},
}


def oasis_options(parser, is_train: bool) -> None:
    """--model oasis: OASIS's networks, no instance edges, a 64-d noise code, and for training its own learning
    rates, LabelMix and VGG options with the public code's per-dataset defaults (no learning-rate decay)."""
    parser.set_defaults(netG='oasis', no_instance=True, z_dim=64)
    if not is_train:
        return
    dataset = parser.selected('dataset_mode')
    defaults = {**OASIS_DEFAULTS, **OASIS_DATASET_DEFAULTS.get(dataset, {})}
    parser.set_defaults(netD='oasis', beta1=0.0, beta2=0.999, niter_decay=0, batchSize=defaults['batchSize'],
                        niter=defaults['niter'], ema_decay=defaults['ema_decay'])
    parser.add_argument('--lr_g', type=float_in(0), default=defaults['lr_g'],
                        help="OASIS: the generator's learning rate (Adam with --beta1 0 --beta2 0.999; --lr and the "
                             'two time-scale rule are not used)')
    parser.add_argument('--lr_d', type=float_in(0), default=defaults['lr_d'], help="OASIS: the discriminator's learning rate")
    parser.add_argument('--lambda_labelmix', type=float_in(0), default=defaults['lambda_labelmix'],
                        help='OASIS: weight of the LabelMix regularisation of the discriminator')
    parser.add_argument('--add_vgg_loss', action='store_true', help='OASIS: add the VGG loss (--lambda_vgg) to the '
                                                                    "generator's (off in the paper)")
