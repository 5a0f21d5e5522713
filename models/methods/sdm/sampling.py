"""How an SDM model makes images (its Method.synthesis): the samplers of the public code — ancestral DDPM over all
1000 steps or respaced, and DDIM — and a few-step solver it does not have (DPM-Solver++, solver.py), with its
classifier-free guidance, behind the synthesis API's one call (models.synthesizer: images of label maps and codes).

The code z of an image is its seed: x_T and every step's noise come from a generator of that seed, so an image
depends on its seed alone. Without codes the noise comes from torch's global generator, as the public code draws it.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from tqdm import tqdm

from util.errors import UserError
from util.threads import following_fair_share
from .diffusion import STEPS, Diffusion
from .solver import dpm_solver_sample

# Each sampler and its steps when --steps is not given: the public code's 1000, and 20 for the solver.
SAMPLERS = {'ddpm': STEPS, 'ddim': STEPS, 'dpm++': 20}
GUIDANCE = 1.5  # the public scripts' --s (ADE20K and CelebAMask-HQ)


@dataclass(frozen=True)
class SamplingSettings:
    sampler: str = 'ddpm'            # ddpm (ancestral), ddim (eta 0 unless given) or dpm++ (DPM-Solver++(2M))
    steps: Optional[int] = None      # of the 1000 (None: the sampler's own); fewer respace them ('ddimN' striding for
    #                                  DDIM, sections for DDPM, evenly from 999 for the solver)
    guidance: float = GUIDANCE       # classifier-free guidance scale s (s <= 1: none)
    eta: float = 0.0                 # DDIM's noise scale
    progress: bool = True            # a bar of the steps (on stderr, cleared when done)

    def check(self) -> None:
        if self.sampler not in SAMPLERS:
            raise UserError(f'--sampler {self.sampler}: choose one of {", ".join(SAMPLERS)}')
        if not 1 <= self.step_count <= STEPS:
            raise UserError(f'--steps {self.steps}: an SDM samples with 1 to {STEPS} of its {STEPS} steps')
        if not 0 <= self.guidance <= 100 or not 0 <= self.eta <= 1:
            raise UserError(f'--guidance {self.guidance} / eta {self.eta}: the guidance scale is 0..100 (1.5 '
                            'published; <= 1: none), eta 0..1')

    @property
    def step_count(self) -> int:
        return SAMPLERS.get(self.sampler, STEPS) if self.steps is None else self.steps

    @property
    def network_evaluations(self) -> int:
        """Network evaluations an image: one a step, two with guidance (a conditional and an unconditional pass)."""
        return self.step_count * (2 if self.guidance > 1.0 else 1)

    @property
    def respacing(self) -> Optional[str]:
        """The public code's --timestep_respacing for these steps (None: all 1000, or the solver's own)."""
        if self.step_count == STEPS or self.sampler == 'dpm++':
            return None
        return f'ddim{self.step_count}' if self.sampler == 'ddim' else str(self.step_count)


class DiffusionSynthesis:
    """The images of an SDM UNet for label maps: `__call__(semantics, z)`, z an (N,) tensor of seeds or None."""
    # The samplers whose time an image the benchmark states (scripts/benchmark.py --modes network): the public
    # DDPM-1000, DDIM-50 and the solver's 20 steps.
    BENCHMARKED = ({'sampler': 'ddpm'}, {'sampler': 'ddim', 'steps': 50}, {'sampler': 'dpm++'})

    def __init__(self, unet: torch.nn.Module, **settings):
        unknown = set(settings) - set(SamplingSettings.__dataclass_fields__)
        if unknown:
            raise UserError(f'{", ".join(sorted(unknown))}: not a sampling setting of SDM '
                            f'({", ".join(SamplingSettings.__dataclass_fields__)})')
        self.settings = SamplingSettings(**settings)
        self.settings.check()
        self.unet = unet
        self.diffusion = Diffusion(self.settings.respacing)

    @staticmethod
    def settings_of(**settings) -> SamplingSettings:
        return SamplingSettings(**settings)

    def one_evaluation(self, semantics: torch.Tensor) -> Callable[[], torch.Tensor]:
        """One network evaluation of the sampler's loop for `semantics` (at the middle step), to time it."""
        height, width = semantics.shape[2:]
        x = torch.randn(semantics.shape[0], self.unet.output_nc, height, width, device=semantics.device)
        t = torch.full((semantics.shape[0],), STEPS // 2, dtype=torch.long, device=semantics.device)
        return lambda: self.unet(x, t, semantics)

    @staticmethod
    def codes_from_seeds(seeds: Sequence[int]) -> torch.Tensor:
        return torch.tensor(list(seeds), dtype=torch.long)

    def noise_of(self, seeds: Optional[torch.Tensor], device: torch.device) -> Optional[Callable]:
        """A draw like torch.randn_like whose image i comes from the generator of seed i (None: the global one)."""
        if seeds is None:
            return None
        generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds.tolist()]

        def draw(like: torch.Tensor) -> torch.Tensor:
            return torch.stack([torch.randn(like.shape[1:], generator=g, device=like.device, dtype=like.dtype)
                                for g in generators])
        return draw

    def __call__(self, semantics: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        s = self.settings
        height, width = semantics.shape[2:]
        shape = (semantics.shape[0], self.unet.output_nc, height, width)
        # Each step follows the machine's fair share of threads (util.threads); a bar of steps if asked.
        steps = (lambda indices: following_fair_share(tqdm(indices, desc=f'{s.sampler} {s.step_count} steps',
                                                           leave=False) if s.progress else indices))
        noise = self.noise_of(z, semantics.device)
        if s.sampler == 'dpm++':
            return dpm_solver_sample(self.unet, semantics, shape, s.step_count, s.guidance, noise=noise, wrap=steps)
        return self.diffusion.sample(self.unet, semantics, shape, s.sampler, s.guidance, s.eta,
                                     noise=noise, steps=steps)
