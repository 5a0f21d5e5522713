"""Exponential moving average of the generator's weights, with its BatchNorm statistics re-estimated."""
import copy
from typing import Callable, Iterable

import torch


class ExponentialMovingAverage:
    """ema = decay * ema + (1 - decay) * weights after every generator step; buffers are copied."""

    def __init__(self, net: torch.nn.Module, decay: float):
        self.decay = decay
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: torch.nn.Module) -> None:
        for averaged, current in zip(self.net.parameters(), net.parameters()):
            averaged.lerp_(current.detach(), 1.0 - self.decay)
        for averaged, current in zip(self.net.buffers(), net.buffers()):
            averaged.copy_(current)

    @torch.no_grad()
    def refresh_batch_norm(self, run: Callable[[torch.nn.Module, object], None], batches: Iterable) -> None:
        """Averaged weights need their own BatchNorm statistics: re-estimate them as the plain mean over
        `batches`, with `run(net, batch)` doing one forward pass."""
        norms = [m for m in self.net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.net.train()
        for batch in batches:
            run(self.net, batch)
        self.net.eval()
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
