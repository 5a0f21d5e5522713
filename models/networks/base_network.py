"""Common base of the generator, discriminator and encoder: its own description, size report, weight
initialisation."""
import functools
import inspect
from typing import Any, Callable, Dict

import torch.nn as nn
from torch.nn import init

# How a network computes, not what it is: none of these changes a number beyond float rounding, nor a checkpoint.
# A description leaves them out, so that a network trained on several GPUs, with recomputation or another
# implementation is rebuilt with whatever this process chooses (the constructors' defaults unless it says).
RUNTIME_ARGUMENTS = ('sync_bn', 'checkpoint_predictors', 'depthconv_impl', 'predictor_impl', 'memory_format',
                     'use_checkpoint')


def _recording(constructor: Callable) -> Callable:
    """`constructor`, recording the arguments of the outermost call as the network's description (as diffusers'
    register_to_config does), so that a network built in Python can be saved and built again."""
    signature = inspect.signature(constructor)

    @functools.wraps(constructor)
    def construct(self, *args, **kwargs):
        # The class's own constructor records; those of its bases, called through super(), do not.
        if type(self).__init__ is construct:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = {k: v for k, v in list(bound.arguments.items())[1:] if k not in RUNTIME_ARGUMENTS}
            self.__dict__['description'] = {'class': type(self).__name__, 'arguments': arguments}
        constructor(self, *args, **kwargs)
    return construct


class BaseNetwork(nn.Module):
    description: Dict[str, Any]  # {'class', 'arguments'}: what its constructor was called with

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if '__init__' in cls.__dict__:
            cls.__init__ = _recording(cls.__init__)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_weights(self, init_type: str = 'normal', gain: float = 0.02) -> None:
        """Initialise as the reference: BatchNorm2d weights ~ N(1, gain); conv and linear weights by `init_type`
        (a key of WEIGHT_INITS), their biases 0. (Spectral-norm layers are initialised through their `weight_orig`
        storage.)"""
        def init_module(m: nn.Module) -> None:
            if type(m) is nn.BatchNorm2d:  # the reference matches the class name, so SyncBatchNorm keeps 1 and 0
                if m.weight is not None:
                    init.normal_(m.weight.data, 1.0, gain)
                    init.constant_(m.bias.data, 0.0)
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                WEIGHT_INITS[init_type](m, gain)
                if m.bias is not None:
                    init.constant_(m.bias.data, 0.0)

        self.apply(init_module)


# --init_type: how a convolution's or linear layer's weight is initialised (the reference's choices; 'none' keeps
# PyTorch's own initialisation).
WEIGHT_INITS: Dict[str, Callable[[nn.Module, float], Any]] = {
    'normal': lambda m, gain: init.normal_(m.weight.data, 0.0, gain),
    'xavier': lambda m, gain: init.xavier_normal_(m.weight.data, gain=gain),
    'xavier_uniform': lambda m, gain: init.xavier_uniform_(m.weight.data, gain=1.0),
    'kaiming': lambda m, gain: init.kaiming_normal_(m.weight.data, a=0, mode='fan_in'),
    'orthogonal': lambda m, gain: init.orthogonal_(m.weight.data, gain=gain),
    'none': lambda m, gain: m.reset_parameters(),
}
