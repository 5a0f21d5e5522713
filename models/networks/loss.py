"""Losses: adversarial (hinge, least squares, cross entropy, Wasserstein), VGG perceptual, KL divergence."""
from typing import List, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .architecture import VGG19

GAN_MODES = ('hinge', 'ls', 'original', 'w')


class GANLoss(nn.Module):
    def __init__(self, gan_mode: str, target_real_label: float = 1.0, target_fake_label: float = 0.0):
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ValueError(f"unknown gan_mode '{gan_mode}': use one of {', '.join(GAN_MODES)}")
        self.gan_mode = gan_mode
        self.real_label = target_real_label
        self.fake_label = target_fake_label

    def loss(self, logits: torch.Tensor, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        if self.gan_mode in ('original', 'ls'):
            target = torch.full_like(logits, self.real_label if target_is_real else self.fake_label)
            if self.gan_mode == 'original':
                return F.binary_cross_entropy_with_logits(logits, target)
            return F.mse_loss(logits, target)
        if self.gan_mode == 'hinge':
            if not for_discriminator:
                if not target_is_real:
                    raise ValueError("the generator's hinge loss must aim for real")
                return -logits.mean()
            margin = logits - 1 if target_is_real else -logits - 1
            return -torch.clamp(margin, max=0).mean()
        return -logits.mean() if target_is_real else logits.mean()

    def forward(self, logits: Union[torch.Tensor, List[torch.Tensor]], target_is_real: bool,
                for_discriminator: bool = True) -> torch.Tensor:
        """For a list of logits (one per discriminator scale), the mean of the per-scale losses."""
        if isinstance(logits, (list, tuple)):
            return sum(self.loss(scale, target_is_real, for_discriminator) for scale in logits) / len(logits)
        return self.loss(logits, target_is_real, for_discriminator)


class VGGLoss(nn.Module):
    """L1 between VGG19 activations, deeper layers weighted more. Images go in as [-1, 1], as the reference."""

    LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, weights_path: str = ''):
        super().__init__()
        self.vgg = VGG19(weights_path)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.size(1) == 1:  # grey images (--output_nc 1): the grey value in every colour channel
            x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
        loss = 0
        for weight, x_feat, y_feat in zip(self.LAYER_WEIGHTS, self.vgg(x), self.vgg(y)):
            loss = loss + weight * F.l1_loss(x_feat, y_feat.detach())
        return loss


class KLDLoss(nn.Module):
    def forward(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


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
