"""Exponential moving average of the generator's weights, with its BatchNorm statistics re-estimated, as the
model's method says (models.base_model.EMAPolicy)."""
import copy
from typing import Callable, Iterable

import torch
from tqdm import tqdm

from models.base_model import EMAPolicy


class ExponentialMovingAverage:
    """ema = decay * ema + (1 - decay) * weights after every step the policy names; buffers copied or averaged."""

    def __init__(self, net: torch.nn.Module, decay: float, policy: EMAPolicy):
        self.decay, self.policy = decay, policy
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        self.updates = 0  # saved with the training state and in networks.json (a young average warns when used)

    @torch.no_grad()
    def update(self, net: torch.nn.Module) -> None:
        self.updates += 1
        if self.policy.average_buffers:
            # OASIS's formula on every state entry, integer counters too (truncated when written back).
            current = net.state_dict()
            for name, averaged in self.net.state_dict().items():
                averaged.copy_(averaged * self.decay + current[name] * (1 - self.decay))
            return
        for averaged, current in zip(self.net.parameters(), net.parameters()):
            averaged.lerp_(current.detach(), 1.0 - self.decay)
        for averaged, current in zip(self.net.buffers(), net.buffers()):
            averaged.copy_(current)

    @torch.no_grad()
    def refresh_batch_norm(self, run: Callable[[torch.nn.Module, object], None], batches: Iterable) -> None:
        """Averaged weights need their own BatchNorm statistics: re-estimate them on `batches` with `run(net,
        batch)` doing one forward pass in training mode: as their plain mean ('cumulative'), or with the layers'
        own momentum from where they are ('running', OASIS's)."""
        norms = [m for m in self.net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        if self.policy.refresh == 'cumulative':
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average
        self.net.train()
        # A bar of its own: on a CPU this pass can take minutes at an epoch's end (OASIS re-estimates on 50 batches)
        for batch in tqdm(batches, desc="the average's BatchNorm statistics", unit='batch', leave=False):
            run(self.net, batch)
        self.net.eval()
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
