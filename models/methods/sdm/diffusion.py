"""SDM's Gaussian diffusion, equal to the public code's (guided-diffusion's GaussianDiffusion as SDM configures it:
always wrapped as its SpacedDiffusion; the network predicts the noise and a learned-range variance): the linear
noise schedule over 1000 steps, respacing, x0 from the predicted noise, the posterior mean, classifier-free
guidance, and the two samplers (ancestral DDPM and DDIM).

Numbers as the public code computes them: the schedule's tables in float64 (numpy, the same formulas in the same
order), each coefficient taken at t and cast to the computation's dtype (float32 there; a float64 computation keeps
float64); the network sees the original step of a respaced one; guidance mixes the noise channels only, the variance
comes from the conditional pass, and the null label is all zeros (instance edges included); sampling draws its noise
after the network calls, also at the last step (where it is masked out) and for DDIM with eta 0.
"""
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import torch

from util.errors import UserError

STEPS = 1000  # the published schedule's length
# The network: (x_t, original timesteps, label map) -> (N, 2C or C, H, W)
Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def linear_betas(steps: int = STEPS) -> np.ndarray:
    """Ho et al.'s linear schedule, scaled to `steps` as guided-diffusion's get_named_beta_schedule('linear')."""
    scale = 1000 / steps
    return np.linspace(scale * 0.0001, scale * 0.02, steps, dtype=np.float64)


def respaced_steps(steps: int, respacing: Union[str, Sequence[int]]) -> List[int]:
    """The original steps a respaced process keeps, sorted (the public code's space_timesteps): 'ddimN' takes the
    first integer stride giving N steps from 0 (ddim25: 0, 40, ..., 960); 'N' or 'a,b,c' splits the steps into
    equal sections, each strided by (size - 1) / (count - 1) and rounded with Python's round (half to even)."""
    if isinstance(respacing, str) and respacing.startswith('ddim'):
        wanted = int(respacing[len('ddim'):])
        for stride in range(1, steps):
            if len(range(0, steps, stride)) == wanted:
                return list(range(0, steps, stride))
        raise UserError(f'{respacing}: no integer stride gives {wanted} of {steps} steps')
    counts = [int(c) for c in respacing.split(',')] if isinstance(respacing, str) else list(respacing)
    size_per, extra = divmod(steps, len(counts))
    kept, start = set(), 0
    for index, count in enumerate(counts):
        size = size_per + (1 if index < extra else 0)
        if size < count:
            raise UserError(f'{respacing}: a section of {size} steps cannot keep {count}')
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.add(start + round(position))
            position += stride
        start += size
    return sorted(kept)


class Diffusion:
    """The diffusion over the kept steps of a `STEPS`-step linear schedule (all of them without `respacing`)."""

    def __init__(self, respacing: Union[str, Sequence[int], None] = None, steps: int = STEPS):
        base = linear_betas(steps)
        kept = respaced_steps(steps, respacing) if respacing else list(range(steps))
        kept_set = set(kept)
        # The betas between the kept steps: 1 - abar_t / abar_previous kept.
        betas, last = [], 1.0
        for step, alpha_bar in enumerate(np.cumprod(1.0 - base, axis=0)):
            if step in kept_set:
                betas.append(1 - alpha_bar / last)
                last = alpha_bar
        self.timestep_map = torch.tensor(kept)
        self.num_timesteps = len(betas)
        self.tables: Dict[str, np.ndarray] = self._tables(np.array(betas, dtype=np.float64))

    @staticmethod
    def _tables(betas: np.ndarray) -> Dict[str, np.ndarray]:
        """The float64 tables, with the public code's formulas in its order."""
        alphas = 1.0 - betas
        alphas_cumprod = np.cumprod(alphas, axis=0)
        alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        return {
            'betas': betas,
            'log_betas': np.log(betas),
            'alphas_cumprod': alphas_cumprod,
            'alphas_cumprod_prev': alphas_cumprod_prev,
            'sqrt_alphas_cumprod': np.sqrt(alphas_cumprod),
            'sqrt_one_minus_alphas_cumprod': np.sqrt(1.0 - alphas_cumprod),
            'sqrt_recip_alphas_cumprod': np.sqrt(1.0 / alphas_cumprod),
            'sqrt_recipm1_alphas_cumprod': np.sqrt(1.0 / alphas_cumprod - 1),
            'posterior_variance': posterior_variance,
            # the first posterior variance is 0: its log takes the second's
            'posterior_log_variance_clipped': np.log(np.append(posterior_variance[1], posterior_variance[1:])),
            'posterior_mean_coef1': betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            'posterior_mean_coef2': (1.0 - alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - alphas_cumprod),
        }

    def at(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Table `name` at steps t, broadcast like `like`, in the computation's dtype (at least float32)."""
        dtype = torch.promote_types(like.dtype, torch.float32)
        values = torch.from_numpy(self.tables[name]).to(like.device)[t].to(dtype)
        return values.view(-1, *([1] * (like.dim() - 1))).expand(like.shape)

    def denoise(self, model: Denoiser, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """The network's output at the kept steps t (it sees their original steps)."""
        return model(x, self.timestep_map.to(t.device)[t], label)

    def guided_output(self, model: Denoiser, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor,
                      guidance: float = 1.0) -> torch.Tensor:
        """The network's output with classifier-free guidance: for `guidance` s > 1 a second pass with an all-zero
        label map, and the noise channels eps_u + s (eps_c - eps_u); the variance channels stay the conditional
        pass's. s <= 1: the conditional output (the public code's `s > 1` test)."""
        output = self.denoise(model, x, t, label)
        if guidance > 1.0:
            unconditional = self.denoise(model, x, t, torch.zeros_like(label))
            c = x.shape[1]
            output = torch.cat([unconditional[:, :c] + guidance * (output[:, :c] - unconditional[:, :c]),
                                output[:, c:]], dim=1)
        return output

    def posterior_of_output(self, output: torch.Tensor, x: torch.Tensor, t: torch.Tensor,
                            clip: bool = True) -> Dict[str, torch.Tensor]:
        """p(x_{t-1} | x_t) from the network's output: 'mean', 'log_variance', 'pred_xstart' (x0, clipped to
        [-1, 1] with `clip`)."""
        c = x.shape[1]
        eps = output[:, :c]
        # v in [-1, 1] interpolates the log variance between the posterior's (clipped) and beta_t (not clamped)
        fraction = (output[:, c:] + 1) / 2
        log_variance = fraction * self.at('log_betas', t, x) + \
            (1 - fraction) * self.at('posterior_log_variance_clipped', t, x)
        pred_xstart = self.at('sqrt_recip_alphas_cumprod', t, x) * x - \
            self.at('sqrt_recipm1_alphas_cumprod', t, x) * eps
        if clip:
            pred_xstart = pred_xstart.clamp(-1, 1)
        mean = self.at('posterior_mean_coef1', t, x) * pred_xstart + self.at('posterior_mean_coef2', t, x) * x
        return {'mean': mean, 'log_variance': log_variance, 'pred_xstart': pred_xstart}

    def q_posterior(self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor):
        """(mean, log variance, clipped) of q(x_{t-1} | x_t, x_0)."""
        mean = self.at('posterior_mean_coef1', t, x_t) * x_start + self.at('posterior_mean_coef2', t, x_t) * x_t
        return mean, self.at('posterior_log_variance_clipped', t, x_t)

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.at('sqrt_alphas_cumprod', t, x_start) * x_start + \
            self.at('sqrt_one_minus_alphas_cumprod', t, x_start) * noise

    def p_sample(self, model: Denoiser, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor, guidance: float = 1.0,
                 noise: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
        """One ancestral step: mean + 1[t != 0] exp(log_variance / 2) z, z drawn after the network calls."""
        out = self.posterior_of_output(self.guided_output(model, x, t, label, guidance), x, t)
        z = (noise or torch.randn_like)(x)
        nonzero = (t != 0).to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return {'sample': out['mean'] + nonzero * torch.exp(0.5 * out['log_variance']) * z,
                'pred_xstart': out['pred_xstart']}

    def ddim_sample(self, model: Denoiser, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor,
                    guidance: float = 1.0, eta: float = 0.0,
                    noise: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
        """One DDIM step (Song et al., eq. 12) from the clipped x0 and the noise re-derived from it; the learned
        variance is not used; z is drawn even with eta 0."""
        out = self.posterior_of_output(self.guided_output(model, x, t, label, guidance), x, t)
        eps = (self.at('sqrt_recip_alphas_cumprod', t, x) * x - out['pred_xstart']) / \
            self.at('sqrt_recipm1_alphas_cumprod', t, x)
        alpha_bar, alpha_bar_prev = self.at('alphas_cumprod', t, x), self.at('alphas_cumprod_prev', t, x)
        sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
        z = (noise or torch.randn_like)(x)
        mean = out['pred_xstart'] * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev - sigma ** 2) * eps
        nonzero = (t != 0).to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return {'sample': mean + nonzero * sigma * z, 'pred_xstart': out['pred_xstart']}

    def sample(self, model: Denoiser, label: torch.Tensor, shape: Sequence[int], sampler: str = 'ddpm',
               guidance: float = 1.0, eta: float = 0.0, x_end: Optional[torch.Tensor] = None,
               noise: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
               steps: Optional[Iterable[int]] = None) -> torch.Tensor:
        """Images from x_T (`x_end`, else drawn with `noise`, else torch.randn) through every kept step, last first;
        `steps` wraps the step indices (a progress bar)."""
        device = label.device
        x = x_end if x_end is not None else (noise(torch.empty(*shape, device=device)) if noise else
                                             torch.randn(*shape, device=device))
        step = {'ddpm': self.p_sample, 'ddim': lambda *a, **k: self.ddim_sample(*a, eta=eta, **k)}[sampler]
        indices = list(range(self.num_timesteps))[::-1]
        with torch.no_grad():
            for index in (steps(indices) if steps else indices):
                t = torch.full((shape[0],), index, dtype=torch.long, device=device)
                x = step(model, x, t, label, guidance, noise=noise)['sample']
        return x
