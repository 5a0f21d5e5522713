"""SDMModel: SDM's training objective, equal to the public code's (guided-diffusion's training_losses as SDM
configures it): for x0, a timestep t drawn uniformly by numpy's global generator and noise z, x_t = q(x0, t, z);
the loss of each image is the mean squared error of the predicted noise plus the variational bound's term for the
learned variance (in bits per dimension, the noise prediction detached in it): the KL between the posterior and
the model's step at t > 0, the discretised Gaussian decoder's negative log-likelihood at t = 0. With --drop_rate
(fine-tuning for classifier-free guidance) each label map is zeroed with that probability, drawn before t.
AdamW with weight decay 0 is Adam: one step on the UNet, at --lr, with torch's default betas.
"""
from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from models.base_model import EMAPolicy, Optimization, OptimizerGroup, TrainableModel
from .diffusion import Diffusion

LOG2 = np.log(2.0)


@dataclass(frozen=True)
class SDMSettings:
    """What SDM optimises and how (the options of the same names; the public code's defaults)."""
    lr: float = 0.0001
    drop_rate: float = 0.0


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor,
              logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))), elementwise."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + ((mean1 - mean2) ** 2) * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    """Log-probability (nats) of 8-bit images x in [-1, 1] under a Gaussian discretised to bins of 2/255, the edge
    bins open (below -0.999, above 0.999)."""
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


def mean_flat(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.mean(dim=list(range(1, tensor.dim())))


def training_losses(diffusion: Diffusion, model, x_start: torch.Tensor, t: torch.Tensor, label: torch.Tensor,
                    noise: torch.Tensor) -> Dict[str, torch.Tensor]:
    """{'mse', 'vb', 'loss'}, each (N,), for images x_start at kept steps t with noise `noise`."""
    x_t = diffusion.q_sample(x_start, t, noise)
    output = diffusion.denoise(model, x_t, t, label)
    c = x_start.shape[1]
    # The bound trains the variance only: the noise channels enter it detached.
    frozen = torch.cat([output[:, :c].detach(), output[:, c:]], dim=1)
    true_mean, true_log_variance = diffusion.q_posterior(x_start, x_t, t)
    out = diffusion.posterior_of_output(frozen, x_t, t, clip=False)
    kl = mean_flat(normal_kl(true_mean, true_log_variance, out['mean'], out['log_variance'])) / LOG2
    decoder_nll = mean_flat(-discretized_gaussian_log_likelihood(x_start, out['mean'],
                                                                 0.5 * out['log_variance'])) / LOG2
    vb = torch.where(t == 0, decoder_nll, kl)
    mse = mean_flat((noise - output[:, :c]) ** 2)
    return {'mse': mse, 'vb': vb, 'loss': mse + vb}


class SDMModel(TrainableModel):
    settings_class = SDMSettings
    # The public code's average (--ema_decay 0.9999 by default for --model sdm) after every optimiser step; the UNet
    # has no batch statistics to re-estimate.
    ema_policy = EMAPolicy(after='G', average_buffers=False, refresh='cumulative', refresh_batches=0,
                           refresh_when_printing=False)

    def build_losses(self, settings: SDMSettings) -> None:
        self.diffusion = Diffusion()

    def optimization(self) -> Optimization:
        return Optimization(self.settings.lr, {'G': OptimizerGroup('denoiser', 'G', 1.0, (0.9, 0.999))},
                            decays=False)

    def compute_denoiser_loss(self, semantics: torch.Tensor, real_image: torch.Tensor):
        """The losses of a batch: label dropping (torch's global generator, on the CPU as the public code draws
        it), then t (numpy's global generator, uniform), then the noise."""
        batch = real_image.shape[0]
        if self.settings.drop_rate > 0:
            keep = (torch.rand([batch, 1, 1, 1]) > self.settings.drop_rate).float()
            semantics = semantics * keep.to(semantics.device)
        steps = self.diffusion.num_timesteps  # uniform weights, drawn as the public code draws them (with p)
        t = torch.from_numpy(np.random.choice(steps, size=(batch,), p=np.ones(steps) / steps)).long().to(self.device)
        noise = torch.randn_like(real_image)
        terms = training_losses(self.diffusion, self.netG, real_image, t, semantics, noise)
        return {'mse': terms['mse'].mean(), 'vb': terms['vb'].mean()}
