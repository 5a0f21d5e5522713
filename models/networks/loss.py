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
