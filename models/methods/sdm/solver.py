"""A few-step sampler for SDM, which the public code does not have: DPM-Solver++ (Lu et al., 2022; multistep,
second order, the data-prediction form) as the `diffusers` library implements it (DPMSolverMultistepScheduler), on
the public code's schedule and guidance. The library's solver is used rather than one of our own: its DDIM on the
same schedule equals the public code's DDIM step for step (tests/test_sdm.py), so the two share their conventions.

Settings, and why: the schedule's own float64 betas (`trained_betas`; the library keeps them in float32); x0 clipped
to [-1, 1] at every step as the public samplers clip it (the library's thresholding with `sample_max_value` 1: its
quantile is then always clamped to 1, a plain clip); the noise channels only (the learned variance plays no part in
an ODE solver); timesteps spread evenly from 999 ('linspace', the library's default) ending at x0 (`final_sigmas_type`
'zero'), the last step first order (`lower_order_final`). It draws no noise after x_T.
"""
import warnings
from typing import Callable, Iterable, Optional, Sequence

import torch

from .diffusion import STEPS, Diffusion, linear_betas


def dpm_solver_scheduler(steps: int):
    """The library's DPM-Solver++(2M) on SDM's schedule, set to `steps` steps."""
    from diffusers import DPMSolverMultistepScheduler  # imported when the solver is used: diffusers is large
    with warnings.catch_warnings():  # the library's own use of numpy 2's __array__ protocol, not ours to mend
        warnings.simplefilter('ignore', DeprecationWarning)
        scheduler = DPMSolverMultistepScheduler(
            num_train_timesteps=STEPS, trained_betas=linear_betas(STEPS), algorithm_type='dpmsolver++',
            solver_order=2, prediction_type='epsilon', thresholding=True, sample_max_value=1.0,
            lower_order_final=True, final_sigmas_type='zero', timestep_spacing='linspace')
        scheduler.set_timesteps(steps)
    return scheduler


def dpm_solver_sample(model: Callable, label: torch.Tensor, shape: Sequence[int], steps: int, guidance: float,
                      noise: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                      wrap: Optional[Callable[[Iterable[int]], Iterable[int]]] = None) -> torch.Tensor:
    """Images from x_T (drawn with `noise`, else torch.randn) in `steps` solver steps, each one network evaluation (two
    with guidance > 1: SDM's guided noise, as the public samplers compute it)."""
    device = label.device
    x = noise(torch.empty(*shape, device=device)) if noise else torch.randn(*shape, device=device)
    scheduler = dpm_solver_scheduler(steps)
    diffusion = Diffusion()  # all 1000 steps: the network sees the solver's timesteps as they are
    channels = shape[1]
    timesteps = [int(t) for t in scheduler.timesteps]
    with torch.no_grad():
        for timestep in (wrap(timesteps) if wrap else timesteps):
            t = torch.full((shape[0],), timestep, dtype=torch.long, device=device)
            eps = diffusion.guided_output(model, x, t, label, guidance)[:, :channels]
            x = scheduler.step(eps.float(), timestep, x).prev_sample
    return x
