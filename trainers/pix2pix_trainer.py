"""Pix2PixTrainer: owns the model, its optimizers and one training step; saves and restores training state."""
import contextlib
import os
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, Optional, Tuple

import torch

from models.base_model import TrainableModel
from models.sources import load_weights, resolve
from models.synthesizer import Synthesizer
from trainers.ema import ExponentialMovingAverage
from util.checkpoint import cpu_state_dict
from util.distributed import DistInfo, all_true
from util.errors import UserError
from util.training_state import capture_rng, restore_rng


@dataclass(frozen=True)
class OptimizationSettings:
    """How the networks are optimized: Adam (--lr, --beta1, --beta2, or TTUR's; OASIS: --lr_g and --lr_d with
    --beta1/--beta2), the linear decay over --niter_decay epochs after --niter, mixed precision (--amp) and the
    generator's average (--ema_decay)."""
    lr: float
    beta1: float
    beta2: float
    no_TTUR: bool
    niter: int
    niter_decay: int
    amp: str
    ema_decay: float
    lr_g: Optional[float] = None   # a learning rate of each network's own (OASIS), instead of --lr and TTUR
    lr_d: Optional[float] = None


class NonFiniteLossError(UserError):
    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step  # the trainer's step (a G and a D update) whose losses were not finite; -1: another process's


@contextlib.contextmanager
def frozen(net: torch.nn.Module) -> Iterator[None]:
    """Within the block, `net`'s parameters get no gradients (their previous requires_grad is restored after)."""
    flags = [(param, param.requires_grad) for param in net.parameters()]
    for param, _ in flags:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)


class Pix2PixTrainer:
    def __init__(self, model: TrainableModel, settings: OptimizationSettings, dist_info: Optional[DistInfo] = None):
        """Trains `model` (with D and its method's losses; weights as they are: fresh, or loaded to resume): a G
        step, then a D step, whatever the method."""
        self.settings = settings
        self.dist_info = dist_info or DistInfo()
        self.model = model
        # DDP, one wrapper per step, each over the parameters that step trains: every parameter it holds then gets
        # a gradient every time, so DDP need not search the graph for unused ones (find_unused_parameters). The
        # reference's kept-unused layers take no gradient at all (see DepthsepCCBlock.norm_0).
        self.model_for = {'G': self.model, 'D': self.model}
        if self.dist_info.enabled:
            device = self.model.device
            device_ids = [device.index] if device.type == 'cuda' else None
            trained_by = {'G': [self.model.netG, self.model.netE], 'D': [self.model.netD]}
            for step, nets in trained_by.items():
                others = [net for net in self.model.networks_by_label().values() if all(net is not n for n in nets)]
                with contextlib.ExitStack() as stack:
                    for net in others:
                        stack.enter_context(frozen(net))
                    self.model_for[step] = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        self.generated = None
        self.g_losses: Dict[str, torch.Tensor] = {}
        self.d_losses: Dict[str, torch.Tensor] = {}
        self.optimizer_G, self.optimizer_D = self.create_optimizers()
        self.old_lr = settings.lr
        # float16 needs loss scaling against underflow; bfloat16 and float32 do not (the scalers stay off).
        device_type = self.model.device.type
        self.scalers = {name: torch.amp.GradScaler(device_type, enabled=settings.amp == 'fp16') for name in 'GD'}
        self.ema = ExponentialMovingAverage(self.model.netG, settings.ema_decay, self.model.ema_policy) \
            if settings.ema_decay > 0 else None
        # Evaluation during training synthesizes as test.py does: one Synthesizer per generator, built once.
        self.synthesizers = [Synthesizer(net, self.model.netE, self.model.spec, self.model.device, settings.amp)
                             for net in [self.model.netG] + ([self.ema.net] if self.ema is not None else [])]
        # Non-finite losses are noted on the device, without waiting for it; check_finite reads the note.
        self.steps_run = torch.zeros((), dtype=torch.long, device=self.model.device)
        self.first_nonfinite_step = torch.full((), -1, dtype=torch.long, device=self.model.device)
        self.nonfinite_losses: Dict[str, Dict[str, torch.Tensor]] = {}

    def create_optimizers(self) -> Tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        model, settings = self.model, self.settings
        G_params = list(model.netG.parameters())
        if model.netE is not None:
            G_params += list(model.netE.parameters())
        if settings.lr_g is not None:  # each network its own rate (OASIS)
            if settings.niter_decay:
                raise UserError(f'--niter_decay {settings.niter_decay}: --lr_g and --lr_d stay constant (OASIS trains '
                                'without decay); drop it')
            betas, G_lr, D_lr = (settings.beta1, settings.beta2), settings.lr_g, settings.lr_d
        elif settings.no_TTUR:
            betas, G_lr, D_lr = (settings.beta1, settings.beta2), settings.lr, settings.lr
        else:  # two time-scale update rule, as the reference: fixed betas, G at lr/2, D at 2*lr
            betas, G_lr, D_lr = (0.0, 0.9), settings.lr / 2, settings.lr * 2
        # The fused kernel is ~10x faster than the per-tensor loop on CPU; results agree to an ulp or two.
        optimizer_G = torch.optim.Adam(G_params, lr=G_lr, betas=betas, fused=True)
        optimizer_D = torch.optim.Adam(list(model.netD.parameters()), lr=D_lr, betas=betas, fused=True)
        return optimizer_G, optimizer_D

    def _note_nonfinite(self, net: str, losses: Dict[str, torch.Tensor]) -> None:
        """Keep the step and the losses of the first step whose losses are not finite (no host synchronisation)."""
        values = torch.stack([v.detach().float().sum() for v in losses.values()])
        first = (~torch.isfinite(values).all()) & (self.first_nonfinite_step < 0)
        self.first_nonfinite_step = torch.where(first, self.steps_run, self.first_nonfinite_step)
        kept = self.nonfinite_losses.get(net, {})
        self.nonfinite_losses[net] = {name: torch.where(first, value, kept.get(name, value))
                                      for name, value in zip(losses, values)}

    def check_finite(self) -> None:
        """Raise NonFiniteLossError if a step's losses were not finite here or, distributed, on any process. Waits
        for the device: called where the loop reads losses anyway and before anything is saved, so that a diverged
        run stops before a checkpoint is written, with no more synchronisations per step than the reference."""
        step = int(self.first_nonfinite_step)
        if all_true(step < 0, self.dist_info):
            return
        values = ', '.join(f'{name}={value.item():.4g}' for losses in self.nonfinite_losses.values()
                           for name, value in losses.items()) if step >= 0 else 'on another process'
        raise NonFiniteLossError(f'a loss is not finite ({values})', step)

    def _step(self, net: str, losses: Dict[str, torch.Tensor]) -> None:
        self._note_nonfinite(net, losses)
        optimizer, scaler = getattr(self, f'optimizer_{net}'), self.scalers[net]
        scaler.scale(sum(losses.values()).mean()).backward()
        scaler.step(optimizer)
        scaler.update()

    def run_generator_one_step(self, data: Dict) -> None:
        self.optimizer_G.zero_grad()
        # The reference also accumulates D's gradients here, only to zero them before the D step: skip that work.
        with frozen(self.model.netD):
            g_losses, generated = self.model_for['G'](data, mode='generator')
            self._step('G', g_losses)
        if self.ema is not None and self.ema.policy.after == 'generator':
            self.ema.update(self.model.netG)
        self.g_losses = g_losses
        self.generated = generated

    def run_discriminator_one_step(self, data: Dict) -> None:
        self.optimizer_D.zero_grad()
        d_losses = self.model_for['D'](data, mode='discriminator')
        self._step('D', d_losses)
        self.d_losses = d_losses
        self.steps_run += 1
        if self.ema is not None and self.ema.policy.after == 'discriminator':
            self.ema.update(self.model.netG)

    def get_latest_losses(self) -> Dict[str, torch.Tensor]:
        return {**self.g_losses, **self.d_losses}

    def get_latest_generated(self) -> Optional[torch.Tensor]:
        return self.generated

    def _generate(self, generator: torch.nn.Module, batch: Dict) -> torch.Tensor:
        synthesizer = next(s for s in self.synthesizers if s.netG is generator)
        return synthesizer.synthesize_batch(batch, check_finite=False)

    def forked_rng(self):
        """Evaluation draws noise (and builds its networks) without moving the training RNG, so that resumed runs and
        runs that score stay exact."""
        device = self.model.device
        return torch.random.fork_rng(devices=[device] if device.type == 'cuda' else [])

    def refresh_ema(self, batches: Iterable[Dict]) -> None:
        """Re-estimate the averaged generator's BatchNorm statistics on `batches`."""
        with self.forked_rng():
            self.ema.refresh_batch_norm(self._generate, batches)

    def synthesize(self, batch: Dict, use_ema: bool) -> torch.Tensor:
        """Generated images for a batch in eval mode, with the averaged generator if asked."""
        generator = self.ema.net if use_ema else self.model.netG
        was_training = generator.training
        generator.eval()
        with self.forked_rng():
            fake = self._generate(generator, batch)
        generator.train(was_training)
        return fake

    def update_learning_rate(self, epoch: int) -> None:
        """Linear decay to zero over the --niter_decay epochs after --niter; TTUR keeps G at lr/2, D at 2*lr."""
        settings = self.settings
        new_lr = self.old_lr - settings.lr / settings.niter_decay if epoch > settings.niter else self.old_lr
        if new_lr == self.old_lr:
            return
        new_lr_G, new_lr_D = (new_lr, new_lr) if settings.no_TTUR else (new_lr / 2, new_lr * 2)
        for group in self.optimizer_D.param_groups:
            group['lr'] = new_lr_D
        for group in self.optimizer_G.param_groups:
            group['lr'] = new_lr_G
        self.old_lr = new_lr

    def save(self, epoch, position: Optional[Dict[str, int]] = None) -> None:
        """Write <epoch>_net_{G,D,E}.pth (and G_ema) and, with `position` ({'epoch', 'epoch_iter',
        'total_steps'}), the training state beside them, as one atomic group."""
        model = self.model
        networks = model.state_dicts()
        if self.ema is not None:
            networks['G_ema'] = cpu_state_dict(self.ema.net)
        state = None
        if position is not None:
            state = {'optimizer_G': self.optimizer_G.state_dict(), 'optimizer_D': self.optimizer_D.state_dict(),
                     'scalers': {name: scaler.state_dict() for name, scaler in self.scalers.items()},
                     'old_lr': self.old_lr, 'position': dict(position), 'rng': capture_rng()}
        model.store.save(epoch, networks, state, model.spec_at(epoch).to_text())

    def load_training_state(self, epoch: str) -> Optional[Dict[str, int]]:
        """Restore optimizers, learning rate and RNG states; returns the saved position, or None without a state file."""
        store = self.model.store
        state = store.load_training_state(epoch)
        if state is None:
            return None
        self.optimizer_G.load_state_dict(state['optimizer_G'])
        self.optimizer_D.load_state_dict(state['optimizer_D'])
        for name, scaler in self.scalers.items():
            scaler.load_state_dict(state['scalers'][name])
        self.old_lr = state['old_lr']
        if self.ema is not None and os.path.isfile(store.network_path(epoch, 'G_ema')):
            load_weights({'G': self.ema.net}, resolve(store.folder, epoch, use_ema=True, spec=self.model.spec))
        restore_rng(state['rng'])
        return state['position']
