"""The predictors that read a block's conditioning map, and their first layers run as one convolution."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# The hidden width of every kernel and attention predictor in the paper and the released checkpoints.
PREDICTOR_NC = 128


class Predictor(nn.Sequential):
    """Layers that start with a 3x3 convolution of the conditioning map: a kernel or attention predictor
    (conv3x3 -> ReLU -> conv3x3 [-> sigmoid]), or SPADE's shared layer (conv3x3 -> ReLU). The layers keep the
    Sequential's names (0, 1, 2, ...), as in the released checkpoints. A block runs the `head`s of all its
    predictors as one convolution (fused_first_layers), then each predictor's `tail` on its part."""

    @property
    def head(self) -> nn.Conv2d:
        return self[0]

    @property
    def last(self) -> nn.Conv2d:
        """The convolution that writes the prediction (a kernel predictor's kernel map)."""
        return self[2]

    def tail(self, first: torch.Tensor) -> torch.Tensor:
        """The layers after the head, on the head's output `first`."""
        for layer in list(self)[1:]:
            first = layer(first)
        return first


def predictor(in_channels: int, out_channels: int, sigmoid: bool = False, hidden_nc: int = PREDICTOR_NC) -> Predictor:
    """conv3x3 -> ReLU -> conv3x3 [-> sigmoid]: predicts kernels or attention maps from the label features."""
    layers = [nn.Conv2d(in_channels, hidden_nc, 3, padding=1), nn.ReLU(),
              nn.Conv2d(hidden_nc, out_channels, 3, padding=1)]
    if sigmoid:
        layers.append(nn.Sigmoid())
    return Predictor(*layers)


def fused_first_layers(convs: Sequence[nn.Conv2d], cond: torch.Tensor,
                       input_channels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, ...]:
    """Several 3x3 convolutions of the same input (all with biases, or a single one without) run as one,
    optionally on a subset of their input channels.

    `input_channels` lists which of the convolutions' input channels `cond` holds; the others must be zero
    everywhere, so leaving them out changes only the summation order.
    """
    weight = torch.cat([conv.weight for conv in convs])
    if input_channels is not None:
        weight = weight.index_select(1, input_channels)
    bias = None if convs[0].bias is None else torch.cat([conv.bias for conv in convs])
    out = F.conv2d(cond, weight, bias, padding=1)
    return out.split([conv.out_channels for conv in convs], dim=1)
