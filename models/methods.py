"""The training objectives a model can be trained with (train.py --model): each is a model class (its networks'
losses behind forward(data, mode), its generator's averaging) and the dataclass of what it optimises. The training
loop, the checkpoint store, resuming and synthesis are the same for every method."""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Type

from util.checkpoint import CheckpointStore
from util.device import configure_cpu_allocator, select_device
from util.distributed import launched_rank
from util.errors import UserError
from .base_model import TrainableModel
from .budget import check_memory
from .oasis_model import OASISLossSettings, OASISModel, oasis_options
from .pix2pix_model import LossSettings, Pix2PixModel
from .spec import ModelSpec


@dataclass(frozen=True)
class Method:
    model: Type[TrainableModel]
    losses: type                     # its loss settings (fields named as the options)
    discriminators: Tuple[str, ...]  # the --netD it trains with
    label_order: str                 # of the label channels (models.spec.LABEL_ORDERS)
    add_options: Optional[Callable] = None  # (parser, is_train): its own options and defaults (the pix2pix family's
                                            # are the reference's, in options/)


METHODS: Dict[str, Method] = {
    'pix2pix': Method(Pix2PixModel, LossSettings, ('fpse', 'multiscale'), 'dataset'),
    'oasis': Method(OASISModel, OASISLossSettings, ('oasis',), 'unlabeled_first', oasis_options),
}


@dataclass(frozen=True)
class ModelRecipe:
    """How to build a model to train: its spec (which names its method), what it optimises, how it computes and is
    initialised, and where (models.from_options.model_recipe makes one from options)."""
    spec: ModelSpec
    losses: Optional[Any]            # the method's loss settings; None: the networks synthesis needs only
    runtime: Dict[str, Any]          # how the networks compute (models.networks.RUNTIME_ARGUMENTS)
    init: Tuple[str, float]          # weight initialisation: type and scale
    amp: str                         # mixed precision: off, bf16, fp16
    gpu_ids: str
    cpu_allocator: str               # the C library's allocator on the CPU (util.device)
    memory_budget: float = 0.0       # GB a model beyond the published sizes may take (0: the machine's; models.budget)
    batch_size: int = 1              # images per step, for that budget

    def build(self, store: CheckpointStore) -> TrainableModel:
        """The model with fresh weights on the recipe's device, its checkpoints in `store`."""
        output_nc = self.spec.output_nc
        if output_nc not in (1, 3):
            raise UserError(f'--output_nc {output_nc}: images have 3 (colour) or 1 (grey) channels')
        method = METHODS[self.spec.method]
        discriminator = self.spec.networks.get('D')
        if discriminator is not None and discriminator.name not in method.discriminators:
            raise UserError(f'--netD {discriminator.name} does not train with --model {self.spec.method}: choose '
                            f'--netD {" or ".join(method.discriminators)}')
        device = select_device(self.gpu_ids, announce=launched_rank() == 0)
        check_memory(self.spec, device, self.memory_budget, 'the options', ''.join(self.spec.networks),
                     self.batch_size, training=self.losses is not None)
        if device.type == 'cpu':
            configure_cpu_allocator(self.cpu_allocator)
        return method.model(self.spec, store, device, self.amp, self.losses, self.runtime, self.init)
