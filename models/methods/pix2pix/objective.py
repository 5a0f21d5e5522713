"""Pix2PixModel: the pix2pix family's objective (SPADE's and CC-FPSE's: hinge GAN, discriminator feature matching,
VGG, KL with a VAE) on the generator, discriminator and encoder, behind one forward(data, mode), and how the
reference optimises them (Adam with the two time-scale update rule, linear decay)."""
from dataclasses import dataclass
from typing import List, Tuple

import torch

from models.base_model import EMAPolicy, Optimization, OptimizerGroup, TrainableModel
from models.inputs import reparameterize
from models.networks.loss import GANLoss, KLDLoss, VGGLoss


@dataclass(frozen=True)
class LossSettings:
    """What training optimises and how (the options of the same names)."""
    lr: float = 0.0002
    beta1: float = 0.5
    beta2: float = 0.999
    no_TTUR: bool = False
    gan_mode: str = 'hinge'
    lambda_feat: float = 10.0
    lambda_vgg: float = 10.0
    lambda_kld: float = 0.05
    no_ganFeat_loss: bool = False
    no_vgg_loss: bool = False
    vgg_weights: str = ''   # a torchvision vgg19 state_dict; '' for torchvision's download


class Pix2PixModel(TrainableModel):
    settings_class = LossSettings
    # The average is ours (--ema_decay; the reference has none): updated after each generator step, buffers copied,
    # BatchNorm statistics re-estimated as the plain mean over 4 fixed training batches before a save or score.
    ema_policy = EMAPolicy(after='G', average_buffers=False, refresh='cumulative', refresh_batches=4,
                           refresh_when_printing=False)

    def build_losses(self, settings: LossSettings) -> None:
        self.criterionGAN = GANLoss(settings.gan_mode)
        self.criterionFeat = torch.nn.L1Loss()
        if not settings.no_vgg_loss:
            self.criterionVGG = VGGLoss(settings.vgg_weights).to(self.device)
        if self.spec.use_vae:
            self.KLDLoss = KLDLoss()

    def optimization(self) -> Optimization:
        """Adam on G (with E) and D; the reference's two time-scale update rule (G at lr/2, D at 2 lr, betas
        (0, 0.9)) unless --no_TTUR; the rate decays linearly over --niter_decay epochs."""
        s = self.settings
        scales, betas = ((1.0, 1.0), (s.beta1, s.beta2)) if s.no_TTUR else ((0.5, 2.0), (0.0, 0.9))
        return Optimization(s.lr, {'G': OptimizerGroup('generator', 'GE', scales[0], betas),
                                   'D': OptimizerGroup('discriminator', 'D', scales[1], betas)})

    def compute_generator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        G_losses = {}
        fake_image, KLD_loss = self.generate_fake(input_semantics, real_image, compute_kld_loss=self.spec.use_vae)
        if self.spec.use_vae:
            G_losses['KLD'] = KLD_loss
        feat_fake, pred_fake, feat_real, _ = self.discriminate(input_semantics, fake_image, real_image)
        if not self.settings.no_ganFeat_loss:
            # Averaged over the discriminator's scales (FPSE: each feature is a scale; multi-scale: each PatchGAN).
            scales = self.netD.feature_matching_scales
            G_losses['GAN_Feat'] = sum(self.criterionFeat(fake, real.detach()) * self.settings.lambda_feat / scales
                                       for fake, real in zip(feat_fake, feat_real))
        G_losses['GAN'] = self.criterionGAN(pred_fake, True, for_discriminator=False)
        if not self.settings.no_vgg_loss:
            G_losses['VGG'] = self.criterionVGG(fake_image, real_image) * self.settings.lambda_vgg
        return G_losses, fake_image

    def compute_discriminator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        with torch.no_grad():
            fake_image, _ = self.generate_fake(input_semantics, real_image)
        _, pred_fake, _, pred_real = self.discriminate(input_semantics, fake_image.detach(), real_image)
        return {'D_Fake': self.criterionGAN(pred_fake, False, for_discriminator=True),
                'D_real': self.criterionGAN(pred_real, True, for_discriminator=True)}

    def encode_z(self, real_image: torch.Tensor):
        mu, logvar = self.netE(real_image)
        return reparameterize(mu, logvar), mu, logvar

    def generate_fake(self, input_semantics: torch.Tensor, real_image: torch.Tensor, compute_kld_loss: bool = False):
        z, KLD_loss = None, None
        if self.spec.use_vae:
            # As the reference, the style comes from the real image, at test time too.
            z, mu, logvar = self.encode_z(real_image)
            if compute_kld_loss:
                KLD_loss = self.KLDLoss(mu, logvar) * self.settings.lambda_kld
        return self.netG(input_semantics, z=z), KLD_loss

    def discriminate(self, input_semantics: torch.Tensor, fake_image: torch.Tensor, real_image: torch.Tensor):
        """Fake and real go through D as one batch (one set of instance-norm statistics each, as the reference)."""
        features, logits = self.netD(torch.cat([fake_image, real_image], dim=0),
                                     torch.cat([input_semantics, input_semantics], dim=0))
        fake_feats, real_feats = self.divide_pred(features)
        fake_preds, real_preds = self.divide_pred(logits)
        return fake_feats, fake_preds, real_feats, real_preds

    @staticmethod
    def divide_pred(tensors: List[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        halves = [t.chunk(2, dim=0) for t in tensors]
        return [h[0] for h in halves], [h[1] for h in halves]
