"""What every training objective's model shares (models.methods lists them): its networks built from a spec, one
forward(data, mode) for the generator's and the discriminator's losses (so that one DDP wrapper serves both), its
state_dicts as the checkpoint files hold them, and how its generator is averaged (EMAPolicy)."""
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch

from util.checkpoint import CheckpointStore, cpu_state_dict
from .inputs import autocast, model_input
from .spec import ModelSpec, build_networks


@dataclass(frozen=True)
class EMAPolicy:
    """How a method averages its generator (--ema_decay) and re-estimates the average's BatchNorm statistics."""
    after: str                 # the step after which the average is updated: 'generator' or 'discriminator'
    average_buffers: bool      # buffers (BatchNorm statistics, spectral-norm vectors) averaged too, or copied
    refresh: str               # 'cumulative': statistics reset and averaged over the batches; 'running': the
                               # networks' own momentum, from where they are, in training mode
    refresh_batches: int       # training batches run for a re-estimation
    refresh_when_printing: bool  # also before every loss print (OASIS: whenever an image could be looked at)


class TrainableModel(torch.nn.Module):
    """A model to train: netG, netD (for training) and netE (when the spec has one), built from the spec with fresh
    weights (models.sources.load_weights reads a checkpoint into them), its files in `store`; a method's model adds
    its losses in `build_losses`. models.methods.ModelRecipe.build makes one."""
    ema_policy: EMAPolicy

    def __init__(self,
                 spec: ModelSpec,                             # the model spec (models.spec)
                 store: CheckpointStore,                      # the run folder its checkpoints are in
                 device: torch.device = torch.device('cpu'),
                 amp: str = 'off',                            # mixed precision: off, bf16, fp16
                 losses: Optional[Any] = None,                # the method's loss settings; None: no D, no losses
                 runtime: Optional[Dict[str, Any]] = None,    # how the networks compute (models.spec)
                 init: Tuple[str, float] = ('xavier', 0.02)):  # weight initialisation: type and scale
        super().__init__()
        self.spec, self.store, self.device, self.amp, self.losses = spec, store, device, amp, losses
        nets = build_networks(spec, device, runtime, 'GDE' if losses is not None else 'GE', init=init,
                              source=store.networks_path())
        self.netG, self.netD, self.netE = nets['G'], nets.get('D'), nets['E']
        if losses is not None:
            self.build_losses(losses)

    def build_losses(self, losses: Any) -> None:
        """The criteria the method's losses need (modules, so that they move with the model)."""

    # One entry point, so that DataParallel / DistributedDataParallel wrap every use of the networks.
    def autocast(self):
        return autocast(self.device, self.amp)

    def forward(self, data: Dict[str, torch.Tensor], mode: str):
        input_semantics, real_image = self.preprocess_input(data)
        with self.autocast():
            if mode == 'generator':
                return self.compute_generator_loss(input_semantics, real_image)
            if mode == 'discriminator':
                return self.compute_discriminator_loss(input_semantics, real_image)
        raise ValueError(f"mode '{mode}' is not one of generator, discriminator (synthesis: models.synthesizer)")

    def compute_generator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        """({name: loss}, the generated images) of a generator step."""
        raise NotImplementedError

    def compute_discriminator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        """{name: loss} of a discriminator step."""
        raise NotImplementedError

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
