"""Trainer: owns a model of any method, its optimizers and one training iteration (the steps its method declares,
models.base_model.Optimization); saves and restores training state. It knows no objective."""
import contextlib
import os
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional

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
    """What the trainer adds to the method's optimisation (its model's `optimization()`): the linear decay over
    --niter_decay epochs after --niter, mixed precision (--amp) and the generator's average (--ema_decay)."""
    niter: int
    niter_decay: int
    amp: str
    ema_decay: float


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


class Trainer:
    def __init__(self, model: TrainableModel, settings: OptimizationSettings, dist_info: Optional[DistInfo] = None):
        """Trains `model` (with D and its method's losses; weights as they are: fresh, or loaded to resume): each
        iteration runs the steps its method declares, in order (the pix2pix family and OASIS: a G step, then a D
        step)."""
        self.settings = settings
        self.dist_info = dist_info or DistInfo()
        self.model = model
        self.optimization = optimization = model.optimization()
        if settings.niter_decay and not optimization.decays:
            raise UserError(f'--niter_decay {settings.niter_decay}: the learning rates of --model {model.spec.method} '
                            'stay constant; drop it')
        networks = model.networks_by_label()
        # Each step's networks, and the others, which it leaves untouched: they take no gradient in the step.
        self.trained = {label: [networks[n] for n in group.networks if n in networks]
                        for label, group in optimization.steps.items()}
        # DDP, one wrapper per step, each over the parameters that step trains: every parameter it holds then gets
        # a gradient every time, so DDP need not search the graph for unused ones (find_unused_parameters). The
        # reference's kept-unused layers take no gradient at all (see DepthsepCCBlock.norm_0).
        self.model_for = {label: self.model for label in optimization.steps}
        if self.dist_info.enabled:
            device = self.model.device
            device_ids = [device.index] if device.type == 'cuda' else None
            for label in optimization.steps:
                with contextlib.ExitStack() as stack:
                    for net in self.others(label):
                        stack.enter_context(frozen(net))
                    self.model_for[label] = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        self.generated = None
        self.latest_losses: Dict[str, Dict[str, torch.Tensor]] = {}
        # Adam for each step (fused: ~10x faster than the per-tensor loop on CPU; results agree to an ulp or two).
        self.optimizers = {label: torch.optim.Adam([p for net in self.trained[label] for p in net.parameters()],
                                                   lr=optimization.base_lr * group.lr_scale, betas=group.betas,
                                                   fused=True)
                           for label, group in optimization.steps.items()}
        self.old_lr = optimization.base_lr
        # float16 needs loss scaling against underflow; bfloat16 and float32 do not (the scalers stay off).
        device_type = self.model.device.type
        self.scalers = {label: torch.amp.GradScaler(device_type, enabled=settings.amp == 'fp16')
                        for label in optimization.steps}
        self.ema = ExponentialMovingAverage(self.model.netG, settings.ema_decay, self.model.ema_policy) \
            if settings.ema_decay > 0 else None
        # Evaluation during training synthesizes as test.py does: one Synthesizer per generator, built once.
        self.synthesizers = [Synthesizer(net, self.model.netE, self.model.spec, self.model.device, settings.amp)
                             for net in [self.model.netG] + ([self.ema.net] if self.ema is not None else [])]
        # Non-finite losses are noted on the device, without waiting for it; check_finite reads the note.
        self.steps_run = torch.zeros((), dtype=torch.long, device=self.model.device)
        self.first_nonfinite_step = torch.full((), -1, dtype=torch.long, device=self.model.device)
        self.nonfinite_losses: Dict[str, Dict[str, torch.Tensor]] = {}

    def others(self, label: str) -> List[torch.nn.Module]:
        """The model's networks that step `label` does not train."""
        trained = self.trained[label]
        return [net for net in self.model.networks_by_label().values() if all(net is not n for n in trained)]

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

    def run_step(self, label: str, data: Dict) -> None:
        """One optimisation step of the method: its losses on `data`, backward, Adam; the others' parameters take no
        gradient (the reference also accumulates D's gradients in the G step, only to zero them before the D step:
        that work is skipped)."""
        optimizer, scaler = self.optimizers[label], self.scalers[label]
        optimizer.zero_grad()
        with contextlib.ExitStack() as stack:
            for net in self.others(label):
                stack.enter_context(frozen(net))
            result = self.model_for[label](data, mode=self.optimization.steps[label].mode)
            losses, generated = result if isinstance(result, tuple) else (result, None)
            self._note_nonfinite(label, losses)
            scaler.scale(sum(losses.values()).mean()).backward()
        scaler.step(optimizer)
        scaler.update()
        self.latest_losses[label] = losses
        if generated is not None:
            self.generated = generated
        if self.ema is not None and self.ema.policy.after == label:
            self.ema.update(self.model.netG)

    def run_iteration(self, data: Dict) -> None:
        """Every step of the method on one batch, in the order it declares."""
        for label in self.optimization.steps:
            self.run_step(label, data)
        self.steps_run += 1

    def get_latest_losses(self) -> Dict[str, torch.Tensor]:
        return {name: loss for losses in self.latest_losses.values() for name, loss in losses.items()}

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
        """The base rate decays linearly to zero over the --niter_decay epochs after --niter; each step keeps its
        scale of it (the reference's TTUR: G at lr/2, D at 2*lr)."""
        settings, base = self.settings, self.optimization.base_lr
        new_lr = self.old_lr - base / settings.niter_decay if epoch > settings.niter else self.old_lr
        if new_lr == self.old_lr:
            return
        self.old_lr = new_lr
        self.apply_rates()

    def apply_rates(self) -> None:
        """Each step's optimizer at its scale of the current base rate (--lr_g, --lr_d, TTUR)."""
        for label, group in self.optimization.steps.items():
            for param_group in self.optimizers[label].param_groups:
                param_group['lr'] = self.old_lr * group.lr_scale

    def save(self, epoch, position: Optional[Dict[str, int]] = None) -> None:
        """Write <epoch>_net_{G,D,E}.pth (and G_ema) and, with `position` ({'epoch', 'epoch_iter',
        'total_steps'}), the training state beside them, as one atomic group."""
        model = self.model
        networks = model.state_dicts()
        if self.ema is not None:
            networks['G_ema'] = cpu_state_dict(self.ema.net)
        state = None
        if position is not None:
            state = {**{f'optimizer_{label}': optimizer.state_dict() for label, optimizer in self.optimizers.items()},
                     'scalers': {name: scaler.state_dict() for name, scaler in self.scalers.items()},
                     'old_lr': self.old_lr, 'base_lr': self.optimization.base_lr, 'position': dict(position),
                     'rng': capture_rng(),
                     **({'ema_updates': self.ema.updates} if self.ema is not None else {})}
        spec = model.spec_at(epoch)
        if self.ema is not None:  # how young the average is: synthesis warns when it is used too early
            spec = spec.with_provenance(average={'decay': self.ema.decay, 'updates': self.ema.updates})
        model.store.save(epoch, networks, state, spec.to_text())

    def load_training_state(self, epoch: str) -> Optional[Dict[str, int]]:
        """Restore optimizers, learning rate and RNG states; returns the saved position, or None without a state
        file."""
        store = self.model.store
        state = store.load_training_state(epoch)
        if state is None:
            return None
        for label, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[f'optimizer_{label}'])
        for name, scaler in self.scalers.items():
            scaler.load_state_dict(state['scalers'][name])
        self.old_lr = state['old_lr']
        saved_base = state.get('base_lr', self.optimization.base_lr)
        if saved_base != self.optimization.base_lr and saved_base > 0:  # resumed with another --lr: the schedule
            self.old_lr = state['old_lr'] * self.optimization.base_lr / saved_base  # goes on at the new rate
        self.apply_rates()  # and each step at its scale, which --lr_g / --lr_d may have changed
        if self.ema is not None and os.path.isfile(store.network_path(epoch, 'G_ema')):
            load_weights({'G': self.ema.net}, resolve(store.folder, epoch, use_ema=True, spec=self.model.spec))
            self.ema.updates = state.get('ema_updates', 0)
        restore_rng(state['rng'])
        return state['position']
