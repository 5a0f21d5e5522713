"""What every method's training half shares (models.method_registry names each one's class): its networks built
from a spec, one forward(data, mode) for the losses of each optimisation step (so that one DDP wrapper serves them
all), its state_dicts as the checkpoint files hold them, and, as data, how its networks are optimised
(Optimization) and how its generator is averaged (EMAPolicy). The trainer (trainers.trainer) knows no objective:
it runs the steps a method declares."""
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Optional, Tuple

import torch

from util.checkpoint import CheckpointStore, cpu_state_dict
from .inputs import autocast, model_input
from .spec import ModelSpec, build_networks


@dataclass(frozen=True)
class OptimizerGroup:
    """One optimisation step: the networks it trains, with Adam at the base learning rate times `lr_scale`."""
    mode: str                  # what forward(data, mode) computes for it: 'generator', 'discriminator'
    networks: str              # the labels of the networks it trains ('GE': the generator and its encoder)
    lr_scale: float
    betas: Tuple[float, float]


@dataclass(frozen=True)
class Optimization:
    """How a method's networks are optimised, in the order its steps run each iteration (keyed by the label that
    names their optimizer in the training state: 'G' for optimizer_G)."""
    base_lr: float
    steps: Dict[str, OptimizerGroup]
    decays: bool = True        # the base rate decays linearly to 0 over --niter_decay epochs after --niter


@dataclass(frozen=True)
class EMAPolicy:
    """How a method averages its generator (--ema_decay) and re-estimates the average's BatchNorm statistics."""
    after: str                 # the step (Optimization.steps' key) after which the average is updated
    average_buffers: bool      # buffers (BatchNorm statistics, spectral-norm vectors) averaged too, or copied
    refresh: str               # 'cumulative': statistics reset and averaged over the batches; 'running': the
                               # networks' own momentum, from where they are, in training mode
    refresh_batches: int       # training batches run for a re-estimation
    refresh_when_printing: bool  # also before every loss print (OASIS: whenever an image could be looked at)


class TrainableModel(torch.nn.Module):
    """A model to train: netG, netD (for training) and netE (when the spec has one), built from the spec with fresh
    weights (models.sources.load_weights reads a checkpoint into them), its files in `store`; a method's model adds
    its losses in `build_losses` and its steps in `optimization`. models.recipe.ModelRecipe.build makes one."""
    ema_policy: ClassVar[EMAPolicy]
    settings_class: ClassVar[type]   # its training settings (fields named as the options that set them)

    def __init__(self,
                 spec: ModelSpec,                             # the model spec (models.spec)
                 store: CheckpointStore,                      # the run folder its checkpoints are in
                 device: torch.device = torch.device('cpu'),
                 amp: str = 'off',                            # mixed precision: off, bf16, fp16
                 settings: Optional[Any] = None,              # the method's settings_class; None: no D, no losses
                 runtime: Optional[Dict[str, Any]] = None,    # how the networks compute (models.spec)
                 init: Tuple[str, float] = ('xavier', 0.02)):  # weight initialisation: type and scale
        super().__init__()
        self.spec, self.store, self.device, self.amp, self.settings = spec, store, device, amp, settings
        nets = build_networks(spec, device, runtime, 'GDE' if settings is not None else 'GE', init=init,
                              source=store.networks_path())
        self.netG, self.netD, self.netE = nets['G'], nets.get('D'), nets['E']
        if settings is not None:
            self.build_losses(settings)

    def build_losses(self, settings: Any) -> None:
        """The criteria the method's losses need (modules, so that they move with the model)."""

    def optimization(self) -> Optimization:
        """Its optimisation steps, from its settings."""
        raise NotImplementedError

    # One entry point, so that DataParallel / DistributedDataParallel wrap every use of the networks.
    def autocast(self):
        return autocast(self.device, self.amp)

    def forward(self, data: Dict[str, torch.Tensor], mode: str):
        """The losses of the step whose OptimizerGroup.mode is `mode`: compute_<mode>_loss on the batch's generator
        input and real photos, which returns {name: loss}, or ({name: loss}, the generated images)."""
        compute = getattr(self, f'compute_{mode}_loss', None)
        if compute is None:
            raise ValueError(f"{type(self).__name__} has no step '{mode}' (synthesis: models.synthesizer)")
        input_semantics, real_image = self.preprocess_input(data)
        with self.autocast():
            return compute(input_semantics, real_image)

    def preprocess_input(self, data: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The generator's input (models.inputs.model_input) and the real photos of a dataset batch."""
        return model_input(self.spec, data['label'], data['instance'], self.device), data['image'].to(self.device)

    def networks_by_label(self) -> Dict[str, torch.nn.Module]:
        nets = {'G': self.netG, 'D': self.netD, 'E': self.netE}
        return {label: net for label, net in nets.items() if net is not None}

    def state_dicts(self) -> Dict[str, Dict[str, torch.Tensor]]:
        """{label: state_dict on the CPU} of G, D and E, as saved in <epoch>_net_<label>.pth."""
        return {label: cpu_state_dict(net) for label, net in self.networks_by_label().items()}

    def spec_at(self, epoch) -> ModelSpec:
        """What networks.json records when `epoch` is saved: the model's spec and where it comes from."""
        return self.spec.with_provenance(epoch=str(epoch))
