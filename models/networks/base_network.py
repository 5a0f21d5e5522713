"""Common base of the generator, discriminator and encoder: size report, weight initialisation."""
from typing import Any, Dict

import torch.nn as nn
from torch.nn import init


class BaseNetwork(nn.Module):
    description: Dict[str, Any]  # {'class', 'arguments'}: set by models.networks when it builds the network

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_weights(self, init_type: str = 'normal', gain: float = 0.02) -> None:
        """Initialise as the reference: BatchNorm2d weights ~ N(1, gain); conv and linear weights by `init_type`,
        their biases 0. (Spectral-norm layers are initialised through their `weight_orig` storage.)"""
        weight_inits = {
            'normal': lambda w: init.normal_(w, 0.0, gain),
            'xavier': lambda w: init.xavier_normal_(w, gain=gain),
            'xavier_uniform': lambda w: init.xavier_uniform_(w, gain=1.0),
            'kaiming': lambda w: init.kaiming_normal_(w, a=0, mode='fan_in'),
            'orthogonal': lambda w: init.orthogonal_(w, gain=gain),
        }

        def init_module(m: nn.Module) -> None:
            if type(m) is nn.BatchNorm2d:  # the reference matches the class name, so SyncBatchNorm keeps 1 and 0
                if m.weight is not None:
                    init.normal_(m.weight.data, 1.0, gain)
                    init.constant_(m.bias.data, 0.0)
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                if init_type == 'none':
                    m.reset_parameters()
                else:
                    weight_inits[init_type](m.weight.data)
                if m.bias is not None:
                    init.constant_(m.bias.data, 0.0)

        self.apply(init_module)
