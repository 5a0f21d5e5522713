"""Conditional depthwise 3x3 convolution: every pixel of every channel has its own predicted kernel.

`conditional_depthwise_conv` has two implementations with the same numbers:
- 'unfold', the reference formulation: unfold the input into an N*C*9*H*W tensor and multiply by the kernels;
- 'lean', the default: add up the nine shifted products. Its autograd keeps only the input and the kernels,
  never the unfolded tensor, so it is several times faster and lighter.
`predicted_depthwise_conv` also runs the layer that predicts the kernels, one tap at a time (for inference).
"""
import argparse
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .normalization import batch_norm_class

KERNEL_SIZE = 3
TAPS = KERNEL_SIZE * KERNEL_SIZE


def _output_size(height: int, width: int, stride: int) -> Tuple[int, int]:
    return (height - 1) // stride + 1, (width - 1) // stride + 1


def _tap_slices(tap: int, out_h: int, out_w: int, stride: int) -> Tuple[slice, slice]:
    """Rows and columns of the zero-padded input that kernel position `tap` (row-major) multiplies."""
    row, col = divmod(tap, KERNEL_SIZE)
    return (slice(row, row + stride * (out_h - 1) + 1, stride),
            slice(col, col + stride * (out_w - 1) + 1, stride))


def unfold_depthwise_conv(x: torch.Tensor, kernels: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Reference formulation (as the released code): explicit unfold, multiply, sum over the 9 taps."""
    n, c, h, w = x.shape
    out_h, out_w = _output_size(h, w, stride)
    patches = F.unfold(x, KERNEL_SIZE, padding=1, stride=stride).view(n * c, TAPS, out_h, out_w)
    return (kernels.reshape(n * c, TAPS, out_h, out_w) * patches).sum(dim=1).view(n, c, out_h, out_w)


class _LeanDepthwiseConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, kernels: torch.Tensor, stride: int) -> torch.Tensor:
        n, c, h, w = x.shape
        out_h, out_w = _output_size(h, w, stride)
        padded = F.pad(x, (1, 1, 1, 1))
        taps = kernels.view(n, c, TAPS, out_h, out_w)
        out = x.new_zeros(n, c, out_h, out_w)
        for tap in range(TAPS):
            rows, cols = _tap_slices(tap, out_h, out_w, stride)
            out.addcmul_(taps[:, :, tap], padded[:, :, rows, cols])
        ctx.save_for_backward(x, kernels)
        ctx.stride = stride
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, kernels = ctx.saved_tensors
        stride = ctx.stride
        n, c, h, w = x.shape
        out_h, out_w = grad_out.shape[2:]
        taps = kernels.view(n, c, TAPS, out_h, out_w)
        grad_x = grad_kernels = None
        padded = F.pad(x, (1, 1, 1, 1))
        if ctx.needs_input_grad[1]:
            grad_kernels = torch.empty_like(kernels).view(n, c, TAPS, out_h, out_w)
        if ctx.needs_input_grad[0]:
            grad_padded = torch.zeros_like(padded)
        for tap in range(TAPS):
            rows, cols = _tap_slices(tap, out_h, out_w, stride)
            if grad_kernels is not None:
                torch.mul(grad_out, padded[:, :, rows, cols], out=grad_kernels[:, :, tap])
            if ctx.needs_input_grad[0]:
                grad_padded[:, :, rows, cols].addcmul_(grad_out, taps[:, :, tap])
        if ctx.needs_input_grad[0]:
            grad_x = grad_padded[:, :, 1:h + 1, 1:w + 1]
        if grad_kernels is not None:
            grad_kernels = grad_kernels.view_as(kernels)
        return grad_x, grad_kernels, None


def lean_depthwise_conv(x: torch.Tensor, kernels: torch.Tensor, stride: int = 1) -> torch.Tensor:
    # Under autocast the two inputs can differ in precision; compute in the wider one.
    dtype = torch.result_type(x, kernels)
    return _LeanDepthwiseConv.apply(x.to(dtype), kernels.to(dtype).contiguous(), stride)


IMPLEMENTATIONS = {'lean': lean_depthwise_conv, 'unfold': unfold_depthwise_conv}


def conditional_depthwise_conv(x: torch.Tensor, kernels: torch.Tensor, stride: int = 1,
                               impl: str = 'lean') -> torch.Tensor:
    """Apply per-pixel 3x3 depthwise kernels.

    x: (N, C, H, W). kernels: (N, C*9, H', W') with the 9 taps of channel c at c*9 .. c*9+8, row-major,
    where H' = (H-1)//stride + 1. Zero padding of 1, as the released model.
    """
    return IMPLEMENTATIONS[impl](x, kernels, stride)


def predicted_depthwise_conv(x: torch.Tensor, hidden: torch.Tensor, weight: torch.Tensor,
                             bias: Optional[torch.Tensor], stride: int = 1) -> torch.Tensor:
    """conditional_depthwise_conv(x, F.conv2d(hidden, weight, bias, padding), stride) without ever holding the
    whole kernel map: the kernels of one tap, for every channel, are predicted and applied at a time, so that
    the largest temporary is the size of the output instead of nine times it.

    hidden: (N, K, H', W') at the output's resolution; weight: (C*9, K, kh, kw) in the kernel map's channel order.
    Runs in x's memory format. Meant for inference: under autograd it would keep every tap's kernels.
    """
    n, c, h, w = x.shape
    out_h, out_w = _output_size(h, w, stride)
    layout = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
    hidden = hidden.contiguous(memory_format=layout)
    padded = F.pad(x, (1, 1, 1, 1))
    tap_weights = weight.view(c, TAPS, *weight.shape[1:])
    tap_biases = None if bias is None else bias.view(c, TAPS)
    out = None
    for tap in range(TAPS):
        kernels = F.conv2d(hidden, tap_weights[:, tap], None if tap_biases is None else tap_biases[:, tap],
                           padding=weight.size(-1) // 2)
        rows, cols = _tap_slices(tap, out_h, out_w, stride)
        if out is None:
            out = kernels * padded[:, :, rows, cols]  # under autocast, in the wider of the two precisions
        else:
            out.addcmul_(kernels, padded[:, :, rows, cols])
    return out


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class DepthConv(nn.Module):
    """The conditional depthwise convolution as a module, with the released checkpoint's layout."""

    def __init__(self, channels: int, opt: argparse.Namespace, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.impl = getattr(opt, 'depthconv_impl', 'lean')
        # Kept unused: present in the released checkpoints (the reference never applies it).
        self.norm_layer = batch_norm_class(opt)(channels, affine=True)

    def forward(self, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        return conditional_depthwise_conv(x, kernels, self.stride, self.impl)
