"""How to build a model to train (models.from_options.model_recipe makes one from options): its spec, which names
its method, the method's settings, and how and where it computes. The method's training half is imported only
when a recipe is built."""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from util.checkpoint import CheckpointStore
from util.device import configure_cpu_allocator, select_device
from util.distributed import launched_rank
from util.errors import UserError
from .budget import check_memory
from .method_registry import method
from .spec import ModelSpec

if TYPE_CHECKING:
    from .base_model import TrainableModel


@dataclass(frozen=True)
class ModelRecipe:
    """How to build a model to train: its spec (which names its method), what it optimises, how it computes and is
    initialised, and where (models.from_options.model_recipe makes one from options)."""
    spec: ModelSpec
    settings: Optional[Any]          # the method's settings (its model's settings_class); None: no training
    runtime: Dict[str, Any]          # how the networks compute (models.networks.RUNTIME_ARGUMENTS)
    init: Tuple[str, float]          # weight initialisation: type and scale
    amp: str                         # mixed precision: off, bf16, fp16
    gpu_ids: str
    cpu_allocator: str               # the C library's allocator on the CPU (util.device)
    memory_budget: float = 0.0       # GB a model beyond the published sizes may take (0: the machine's; models.budget)
    batch_size: int = 1              # images per step, for that budget

    def build(self, store: CheckpointStore) -> 'TrainableModel':
        """The model with fresh weights on the recipe's device, its checkpoints in `store`."""
        output_nc = self.spec.output_nc
        if output_nc not in (1, 3):
            raise UserError(f'--output_nc {output_nc}: images have 3 (colour) or 1 (grey) channels')
        trained = method(self.spec.method)
        discriminator = self.spec.networks.get('D')
        if discriminator is not None and discriminator.name not in trained.discriminators:
            raise UserError(f'--netD {discriminator.name} does not train with --model {self.spec.method}: choose '
                            f'--netD {" or ".join(trained.discriminators)}')
        device = select_device(self.gpu_ids, announce=launched_rank() == 0)
        check_memory(self.spec, device, self.memory_budget, 'the options', ''.join(self.spec.networks),
                     self.batch_size, training=self.settings is not None)
        if device.type == 'cpu':
            configure_cpu_allocator(self.cpu_allocator)
        return trained.trainable_model()(self.spec, store, device, self.amp, self.settings, self.runtime, self.init)
