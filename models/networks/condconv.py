"""Conditional depthwise 3x3 convolution: every pixel of every channel has its own predicted kernel.

`conditional_depthwise_conv` has two implementations with the same numbers:
- 'unfold', the reference formulation: unfold the input into an N*C*9*H*W tensor and multiply by the kernels;
- 'lean', the default: add up the nine shifted products. Its autograd keeps only the input and the kernels,
  never the unfolded tensor, so it is several times faster and lighter.
`predicted_depthwise_conv` also runs the layer that predicts the kernels, one tap at a time (for inference);
`predicted_conditional_conv` is the entry point the generator's blocks use, which picks among them.

Kernel maps come in the checkpoint's channel-major order (channel c's taps at c*9 .. c*9+8) or, with
`tap_major=True`, tap-major (tap t's kernels for all channels at t*C .. t*C+C-1; see `to_tap_major`).
"""
from typing import Optional, Tuple, Type

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

KERNEL_SIZE = 3
TAPS = KERNEL_SIZE * KERNEL_SIZE


def _output_size(height: int, width: int, stride: int) -> Tuple[int, int]:
    return (height - 1) // stride + 1, (width - 1) // stride + 1


def _tap_slices(tap: int, out_h: int, out_w: int, stride: int) -> Tuple[slice, slice]:
    """Rows and columns of the zero-padded input that kernel position `tap` (row-major) multiplies."""
    row, col = divmod(tap, KERNEL_SIZE)
    return (slice(row, row + stride * (out_h - 1) + 1, stride),
            slice(col, col + stride * (out_w - 1) + 1, stride))


def to_tap_major(rows: torch.Tensor) -> torch.Tensor:
    """A kernel predictor's weight or bias, its output rows reordered from channel-major to tap-major."""
    return rows.unflatten(0, (-1, TAPS)).transpose(0, 1).flatten(0, 1)


def from_tap_major(rows: torch.Tensor) -> torch.Tensor:
    """The inverse of to_tap_major."""
    return rows.unflatten(0, (TAPS, -1)).transpose(0, 1).flatten(0, 1)


class _TapMajorConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], padding: int) -> torch.Tensor:
        # Under autocast, compute in its precision as F.conv2d would (the reordered copies are made in it).
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
        x = x.to(dtype)
        with torch.autocast(x.device.type, enabled=False):
            out = F.conv2d(x, to_tap_major(weight).to(dtype), None if bias is None else to_tap_major(bias).to(dtype),
                           padding=padding)
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.has_bias = padding, bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, weight = ctx.saved_tensors
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad[:3]
        grad_x, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            grad_out.to(x.dtype), x, to_tap_major(weight).to(x.dtype), [weight.size(0)] if ctx.has_bias else None,
            [1, 1], [ctx.padding] * 2, [1, 1], False, [0, 0], 1, [needs_x, needs_weight, ctx.has_bias and needs_bias])
        if grad_weight is not None:
            grad_weight = from_tap_major(grad_weight).to(weight.dtype)
        if grad_bias is not None:
            grad_bias = from_tap_major(grad_bias).to(weight.dtype)
        return grad_x, grad_weight, grad_bias, None


def tap_major_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], padding: int) -> torch.Tensor:
    """F.conv2d(x, to_tap_major(weight), to_tap_major(bias), padding=padding): the kernel map a predictor's last
    layer writes, tap-major. For backward it keeps `weight` itself and reorders it again there, instead of
    keeping a reordered copy of every predictor's weight (0.42 GB at full width)."""
    return _TapMajorConv.apply(x, weight, bias, padding)


def _taps(kernels: torch.Tensor, channels: int, tap_major: bool) -> torch.Tensor:
    """The kernel map viewed as (N, C, 9, H, W), whichever its channel order."""
    if tap_major:
        return kernels.unflatten(1, (TAPS, channels)).transpose(1, 2)
    return kernels.unflatten(1, (channels, TAPS))


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _layout(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if _is_channels_last(x) else torch.contiguous_format


def unfold_depthwise_conv(x: torch.Tensor, kernels: torch.Tensor, stride: int = 1,
                          tap_major: bool = False) -> torch.Tensor:
    """Reference formulation (as the released code): explicit unfold, multiply, sum over the 9 taps."""
    n, c, h, w = x.shape
    out_h, out_w = _output_size(h, w, stride)
    patches = F.unfold(x, KERNEL_SIZE, padding=1, stride=stride).view(n * c, TAPS, out_h, out_w)
    taps = _taps(kernels, c, tap_major).reshape(n * c, TAPS, out_h, out_w)
    return (taps * patches).sum(dim=1).view(n, c, out_h, out_w)


class _LeanDepthwiseConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, kernels: torch.Tensor, stride: int, tap_major: bool) -> torch.Tensor:
        n, c, h, w = x.shape
        out_h, out_w = _output_size(h, w, stride)
        padded = F.pad(x, (1, 1, 1, 1))
        taps = _taps(kernels, c, tap_major)
        # Allocated in x's layout: left to the elementwise ops, a batch of one can get strides that the next
        # convolution does not take for channels-last, and it would then fall back to NCHW.
        out = torch.empty((n, c, out_h, out_w), dtype=x.dtype, device=x.device, memory_format=_layout(x))
        for tap in range(TAPS):
            rows, cols = _tap_slices(tap, out_h, out_w, stride)
            if tap == 0:
                torch.mul(taps[:, :, tap], padded[:, :, rows, cols], out=out)
            else:
                out.addcmul_(taps[:, :, tap], padded[:, :, rows, cols])
        ctx.save_for_backward(x, kernels)
        ctx.stride, ctx.tap_major = stride, tap_major
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, kernels = ctx.saved_tensors
        stride = ctx.stride
        n, c, h, w = x.shape
        out_h, out_w = grad_out.shape[2:]
        taps = _taps(kernels, c, ctx.tap_major)
        grad_x = grad_kernels = None
        padded = F.pad(x, (1, 1, 1, 1))
        if ctx.needs_input_grad[1]:
            grad_kernels = torch.empty_like(kernels)
            grad_taps = _taps(grad_kernels, c, ctx.tap_major)
        if ctx.needs_input_grad[0]:
            grad_padded = torch.zeros_like(padded)
        for tap in range(TAPS):
            rows, cols = _tap_slices(tap, out_h, out_w, stride)
            if grad_kernels is not None:
                torch.mul(grad_out, padded[:, :, rows, cols], out=grad_taps[:, :, tap])
            if ctx.needs_input_grad[0]:
                grad_padded[:, :, rows, cols].addcmul_(grad_out, taps[:, :, tap])
        if ctx.needs_input_grad[0]:
            grad_x = grad_padded[:, :, 1:h + 1, 1:w + 1]
        return grad_x, grad_kernels, None, None


def lean_depthwise_conv(x: torch.Tensor, kernels: torch.Tensor, stride: int = 1,
                        tap_major: bool = False) -> torch.Tensor:
    # Under autocast the two inputs can differ in precision; compute in the wider one.
    dtype = torch.result_type(x, kernels)
    kernels = kernels.to(dtype).contiguous(memory_format=_layout(kernels))
    return _LeanDepthwiseConv.apply(x.to(dtype), kernels, stride, tap_major)


IMPLEMENTATIONS = {'lean': lean_depthwise_conv, 'unfold': unfold_depthwise_conv}


def conditional_depthwise_conv(x: torch.Tensor, kernels: torch.Tensor, stride: int = 1,
                               impl: str = 'lean', tap_major: bool = False) -> torch.Tensor:
    """Apply per-pixel 3x3 depthwise kernels.

    x: (N, C, H, W). kernels: (N, C*9, H', W') with the 9 taps of channel c at c*9 .. c*9+8, row-major
    (with tap_major, tap t of channel c at t*C + c), where H' = (H-1)//stride + 1. Zero padding of 1, as the
    released model.
    """
    return IMPLEMENTATIONS[impl](x, kernels, stride, tap_major)


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
    hidden = hidden.contiguous(memory_format=_layout(x))
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


def predicted_conditional_conv(x: torch.Tensor, hidden: torch.Tensor, weight: torch.Tensor,
                               bias: Optional[torch.Tensor], stride: int = 1, impl: str = 'lean', per_tap: bool = False,
                               tap_major: bool = False, checkpoint_predictors: bool = False) -> torch.Tensor:
    """The conditional convolution's one entry point: x convolved per pixel with the depthwise kernels that a
    predictor's last layer (`weight`, `bias`: a 3x3 convolution, rows in the checkpoint's channel-major order)
    writes from its hidden map `hidden`. The implementation choices give the same numbers:

    - `per_tap` (the lean, fused formulation): without autograd, one tap's kernels at a time
      (predicted_depthwise_conv); with autograd a whole kernel map, tap-major when `tap_major` (channels-last
      activations, see to_tap_major);
    - otherwise the whole kernel map in the released order, applied by conditional_depthwise_conv with `impl`;
    - `checkpoint_predictors`: with autograd, the kernel map is recomputed in backward instead of being kept.
    """
    if per_tap and not torch.is_grad_enabled():
        return predicted_depthwise_conv(x, hidden, weight, bias, stride)
    tap_major = per_tap and tap_major
    padding = weight.size(-1) // 2

    def apply(x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        if tap_major:
            kernels = tap_major_conv2d(hidden, weight, bias, padding)
        else:
            kernels = F.conv2d(hidden, weight, bias, padding=padding)
        return conditional_depthwise_conv(x, kernels, stride, impl, tap_major)
    if checkpoint_predictors and torch.is_grad_enabled():
        # The per-pixel kernels are the largest activations: recompute them in backward instead of keeping them.
        return checkpoint(apply, x, hidden, use_reentrant=False)
    return apply(x, hidden)


class DepthConv(nn.Module):
    """The conditional depthwise convolution as a module, with the released checkpoint's layout, applying the
    kernels a predictor writes (see predicted_conditional_conv for the choices)."""

    def __init__(self, channels: int, impl: str = 'lean', batch_norm: Type[nn.Module] = nn.BatchNorm2d,
                 stride: int = 1, per_tap: bool = False, checkpoint_predictors: bool = False):
        super().__init__()
        self.stride, self.impl, self.per_tap = stride, impl, per_tap
        self.checkpoint_predictors = checkpoint_predictors
        # Kept unused: present in the released checkpoints (the reference never applies it); no gradient, as
        # DepthsepCCBlock.norm_0.
        self.norm_layer = batch_norm(channels, affine=True).requires_grad_(False)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor, predictor_layer: nn.Conv2d,
                tap_major: bool = False) -> torch.Tensor:
        """x convolved with the kernels that `predictor_layer` predicts from `hidden`."""
        return predicted_conditional_conv(x, hidden, predictor_layer.weight, predictor_layer.bias, self.stride,
                                          self.impl, self.per_tap, tap_major, self.checkpoint_predictors)
