"""OASISModel: OASIS's objective (boschresearch/OASIS's models.py) on its generator and segmentation discriminator,
behind the one forward(data, mode) of every method.

The generator is trained to make the discriminator segment its images into the right classes (class-balanced
(N+1)-class cross-entropy, the unlabelled class ignored); the discriminator to segment real images and to call
every pixel of generated ones "fake", with LabelMix (real and fake mixed along class regions, its logits asked to be
the same mix of the two) as its regulariser; an optional VGG term. No encoder: the generator draws its noise code.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.base_model import EMAPolicy, Optimization, OptimizerGroup, TrainableModel
from models.networks.loss import VGGLoss


@dataclass(frozen=True)
class OASISLossSettings:
    """What OASIS optimises and how (the options of the same names; the public code's defaults)."""
    lr_g: float = 0.0001
    lr_d: float = 0.0004
    beta1: float = 0.0
    beta2: float = 0.999
    lambda_labelmix: float = 10.0
    add_vgg_loss: bool = False
    lambda_vgg: float = 10.0
    vgg_weights: str = ''   # a torchvision vgg19 state_dict; '' for torchvision's download


class OASISModel(TrainableModel):
    settings_class = OASISLossSettings
    # As the public code: the average of every state entry (BatchNorm statistics and spectral-norm vectors too)
    # after each iteration, then, before every print, save and score, 51 training batches through it in training
    # mode to re-estimate its BatchNorm statistics (OASIS issue #21).
    ema_policy = EMAPolicy(after='D', average_buffers=True, refresh='running', refresh_batches=51,
                           refresh_when_printing=True)

    def build_losses(self, settings: OASISLossSettings) -> None:
        # The unlabelled class (first in OASIS's label order) takes no part in the real images' loss.
        self.ignore_first = self.spec.inputs.label_order == 'unlabeled_first' and \
            self.spec.inputs.unlabeled_channel is not None
        if settings.add_vgg_loss:
            self.criterionVGG = VGGLoss(settings.vgg_weights).to(self.device)

    def optimization(self) -> Optimization:
        """Adam on G and D, each at its own constant rate (--lr_g, --lr_d), with --beta1 and --beta2."""
        s, betas = self.settings, (self.settings.beta1, self.settings.beta2)
        return Optimization(1.0, {'G': OptimizerGroup('generator', 'G', s.lr_g, betas),
                                  'D': OptimizerGroup('discriminator', 'D', s.lr_d, betas)}, decays=False)

    def compute_generator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        fake = self.netG(input_semantics)
        losses = {'G_adv': oasis_adversarial_loss(self.netD(fake), input_semantics, True, self.ignore_first)}
        if self.settings.add_vgg_loss:
            losses['VGG'] = self.settings.lambda_vgg * self.criterionVGG(fake, real_image)
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
                'LabelMix': self.settings.lambda_labelmix * labelmix_loss(mask, logits_mixed, logits_fake, logits_real)}


# OASIS's objective (Schönfeld, Sushko et al., ICLR 2021): the discriminator segments images into the N label
# classes plus "fake" (channel 0); class-balanced cross-entropy and LabelMix, as boschresearch/OASIS computes them.

def oasis_class_weights(label: torch.Tensor, ignore_first: bool) -> torch.Tensor:
    """(N, H, W) weight of every pixel: the inverse frequency of its class in the batch's one-hot `label`
    (N, C, H, W), scaled so that present classes weigh (N*H*W) / (K * count) for K present classes; the first
    (unlabelled) class weighs 0 with `ignore_first`."""
    counts = label.sum(dim=(0, 2, 3))
    if ignore_first:
        counts[0] = 0
    present = (counts > 0).sum()
    weights = torch.reciprocal(counts) * label.numel() / (present * label.shape[1])
    if ignore_first:
        weights[0] = 0
    return weights[label.argmax(dim=1)]


def oasis_adversarial_loss(logits: torch.Tensor, label: torch.Tensor, for_real: bool,
                           ignore_first: bool) -> torch.Tensor:
    """OASIS's (N+1)-class cross-entropy of discriminator `logits` (N, C + 1, H, W): as real, every pixel is its
    class (channel class + 1), weighted by oasis_class_weights and averaged over all pixels; as fake, channel 0,
    unweighted."""
    if not for_real:
        target = torch.zeros(logits.shape[0], *logits.shape[2:], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits, target, reduction='none').mean()
    target = label.argmax(dim=1) + 1
    return (F.cross_entropy(logits, target, reduction='none') * oasis_class_weights(label, ignore_first)).mean()


def labelmix_mask(label: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) LabelMix mask: one random bit per class present in the batch, shared by all its images, drawn in
    the order of the class ids (torch.randint from the global generator, as the public code draws them). Public-code
    quirk kept: the classes are relabelled in place one after another, so pixels of a class set to 1 take the bit
    of class 1 when it is drawn later."""
    mask = label.argmax(dim=1, keepdim=True)
    for value in torch.unique(mask):
        mask[mask == value] = torch.randint(0, 2, (1,), device=mask.device)
    return mask.float()


def labelmix_loss(mask: torch.Tensor, mixed: torch.Tensor, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the discriminator's logits on the mixed image and the same mix of its
    logits on the real and the fake image."""
    return F.mse_loss(mixed, mask * real + (1 - mask) * fake)
