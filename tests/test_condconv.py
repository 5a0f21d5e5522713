"""The lean conditional depthwise convolution equals the unfold reference in values and gradients, for kernel maps
in either channel order and memory layout; predicting and applying the kernels a tap at a time equals predicting
the whole kernel map first."""
import pytest
import torch
import torch.nn.functional as F

from helpers import define, train_opt
from models.networks.condconv import conditional_depthwise_conv, predicted_depthwise_conv, to_tap_major

SHAPES_AND_STRIDES = [(shape, stride) for shape in [(1, 1, 5, 5), (1, 4, 6, 5), (2, 3, 8, 10), (2, 16, 7, 4)]
                      for stride in (1, 2)]
LAYOUTS = [torch.contiguous_format, torch.channels_last]


def _sizes(shape, stride):
    """N, C and the output's height and width."""
    n, c, h, w = shape
    return n, c, (h - 1) // stride + 1, (w - 1) // stride + 1


def _tap_major_order(channels: int) -> torch.Tensor:
    """Channel-major index of each tap-major channel: tap t of channel c moves from c*9 + t to t*C + c."""
    return torch.tensor([c * 9 + t for t in range(9) for c in range(channels)])


def _keeps_channels_last(out: torch.Tensor, layout: torch.memory_format) -> bool:
    n, c, h, w = out.shape
    if layout != torch.channels_last or c == 1 or h * w == 1:  # those shapes are both layouts at once
        return True
    return out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()


@pytest.mark.parametrize('shape, stride', SHAPES_AND_STRIDES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_lean_equals_unfold_in_values_and_gradients(shape, stride, dtype):
    torch.manual_seed(0)
    n, c, out_h, out_w = _sizes(shape, stride)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    kernels = torch.randn(n, c * 9, out_h, out_w, dtype=dtype, requires_grad=True)
    grad = torch.randn(n, c, out_h, out_w, dtype=dtype)
    results = []
    for impl in ('lean', 'unfold'):
        out = conditional_depthwise_conv(x, kernels, stride, impl)
        results.append((out, *torch.autograd.grad(out, (x, kernels), grad)))
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for lean, unfold in zip(*results):
        assert lean.shape == unfold.shape
        assert torch.allclose(lean, unfold, rtol=tol, atol=tol * unfold.abs().max().item())


@pytest.mark.parametrize('shape, stride', SHAPES_AND_STRIDES)
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('impl', ['lean', 'unfold'])
def test_tap_major_kernels_in_either_layout_give_the_same_values_and_gradients(shape, stride, layout, impl):
    torch.manual_seed(0)
    n, c, out_h, out_w = _sizes(shape, stride)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    kernels = torch.randn(n, c * 9, out_h, out_w, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(n, c, out_h, out_w, dtype=torch.float64)
    expected = conditional_depthwise_conv(x, kernels, stride, 'unfold')
    expected_grads = torch.autograd.grad(expected, (x, kernels), grad)

    tap_major = kernels[:, _tap_major_order(c)].contiguous(memory_format=layout)
    out = conditional_depthwise_conv(x.contiguous(memory_format=layout), tap_major, stride, impl, tap_major=True)
    grads = torch.autograd.grad(out, (x, kernels), grad)
    for value, reference in zip((out, *grads), (expected, *expected_grads)):
        assert torch.allclose(value, reference, rtol=1e-12, atol=1e-12)
    if impl == 'lean':
        assert _keeps_channels_last(out, layout)


def test_tap_major_reorders_a_predictors_output_rows():
    weight = torch.randn(4 * 9, 3, 3, 3)
    assert torch.equal(to_tap_major(weight), weight[_tap_major_order(4)])
    assert torch.equal(to_tap_major(weight[:, 0, 0, 0]), weight[_tap_major_order(4), 0, 0, 0])


def test_lean_matches_a_hand_computed_value():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    kernels = torch.zeros(1, 9, 3, 3)
    kernels[0, 4] = 1.0  # centre tap: identity
    kernels[0, 0, 1, 1] = 2.0  # top-left tap at the centre pixel: + 2 * x[0, 0]
    out = conditional_depthwise_conv(x, kernels)
    expected = x.clone()
    expected[0, 0, 1, 1] += 2 * x[0, 0, 0, 0]
    assert torch.equal(out, expected)


def test_gradcheck_float64():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    kernels = torch.randn(1, 18, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: conditional_depthwise_conv(a, b, 1, 'lean'), (x, kernels))


def test_bfloat16_runs_close_to_float32():
    torch.manual_seed(0)
    x, kernels = torch.randn(1, 4, 6, 6), torch.randn(1, 36, 6, 6)
    out = conditional_depthwise_conv(x.bfloat16(), kernels.bfloat16()).float()
    assert torch.allclose(out, conditional_depthwise_conv(x, kernels), atol=0.1, rtol=0.05)


def test_generator_output_is_the_same_with_either_implementation():
    outputs = []
    for impl in ('lean', 'unfold'):
        opt = train_opt('--dataset_mode', 'coco', '--label_nc', '5', '--crop_size', '64', '--depthconv_impl', impl)
        torch.manual_seed(0)
        generator = define('G', opt)
        torch.manual_seed(1)
        semantics = torch.rand(2, opt.semantic_nc, 64, 64)
        outputs.append(generator(semantics))
    assert torch.allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('memory_format', ['auto', 'contiguous', 'channels_last'])
def test_each_memory_format_gives_the_reference_formulations_values_and_gradients(memory_format):
    """float64: the layout (and with it the kernel maps' order) changes only the order of summation."""
    results = []
    for extra in (['--depthconv_impl', 'unfold', '--predictor_impl', 'reference'], ['--memory_format', memory_format]):
        opt = train_opt('--dataset_mode', 'coco', '--label_nc', '5', '--crop_size', '64', *extra)
        torch.manual_seed(0)
        generator = define('G', opt).double()
        torch.manual_seed(1)
        semantics = torch.rand(2, opt.semantic_nc, 64, 64, dtype=torch.float64)
        out = generator(semantics)
        (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)).sum().backward()
        with torch.no_grad():
            inference = generator.eval()(semantics)
        results.append((out.detach(), inference,
                        {n: p.grad for n, p in generator.named_parameters() if p.grad is not None}))
    (out, inference, grads), (ours, ours_inference, our_grads) = results
    assert torch.allclose(ours, out, rtol=0,
                          atol=1e-12) and torch.allclose(ours_inference, inference, rtol=0, atol=1e-12)
    # atol: a bias followed by batch norm (fc's) has an exact gradient of zero, here ~1e-11 of rounding.
    assert our_grads.keys() == grads.keys()
    assert all(torch.allclose(our_grads[name], grads[name], rtol=1e-9, atol=1e-10) for name in grads)


@pytest.mark.parametrize('shape, stride', SHAPES_AND_STRIDES)
@pytest.mark.parametrize('layout', LAYOUTS)
def test_tap_by_tap_prediction_equals_the_whole_kernel_map(shape, stride, layout):
    torch.manual_seed(0)
    n, c, out_h, out_w = _sizes(shape, stride)
    x = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=layout)
    hidden = torch.randn(n, 6, out_h, out_w, dtype=torch.float64)
    weight, bias = torch.randn(c * 9, 6, 3, 3, dtype=torch.float64), torch.randn(c * 9, dtype=torch.float64)
    expected = conditional_depthwise_conv(x, F.conv2d(hidden, weight, bias, padding=1), stride)
    out = predicted_depthwise_conv(x, hidden, weight, bias, stride)
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert _keeps_channels_last(out, layout)


def test_tap_by_tap_prediction_under_bfloat16_autocast_stays_close():
    torch.manual_seed(0)
    x, hidden = torch.randn(1, 4, 6, 6), torch.randn(1, 8, 6, 6)
    weight, bias = torch.randn(36, 8, 3, 3) * 0.1, torch.randn(36) * 0.1
    expected = predicted_depthwise_conv(x, hidden, weight, bias)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = predicted_depthwise_conv(x, hidden, weight, bias)
    assert out.dtype == torch.float32  # accumulated in x's precision
    assert torch.allclose(out, expected, atol=0.1, rtol=0.05)


@pytest.mark.parametrize('bias', [True, False])
def test_tap_major_conv_equals_the_reordered_weight_convolution(bias):
    """Values and gradients equal F.conv2d with the reordered copies, which it does not keep for backward."""
    from models.networks.condconv import from_tap_major, tap_major_conv2d
    torch.manual_seed(0)
    channels = 5
    x = torch.randn(2, 6, 7, 9, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(channels * 9, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(channels * 9, dtype=torch.float64, requires_grad=True) if bias else None
    grad = torch.randn(2, channels * 9, 7, 9, dtype=torch.float64)
    ours = tap_major_conv2d(x, weight, b, 1)
    reference = F.conv2d(x, to_tap_major(weight), None if b is None else to_tap_major(b), padding=1)
    assert torch.allclose(ours, reference, rtol=0, atol=1e-12)
    inputs = [x, weight] + ([b] if bias else [])
    for got, expected in zip(torch.autograd.grad(ours, inputs, grad), torch.autograd.grad(reference, inputs, grad)):
        assert torch.allclose(got, expected, rtol=0, atol=1e-9)
    assert torch.equal(from_tap_major(to_tap_major(weight)), weight)
    # It saves the parameter itself (a view of its storage), not a reordered copy.
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        tap_major_conv2d(x, weight, b, 1)
    assert any(t.untyped_storage().data_ptr() == weight.untyped_storage().data_ptr() for t in saved)
    shared = weight.untyped_storage().data_ptr()
    assert all(t.shape != weight.shape or t.untyped_storage().data_ptr() == shared for t in saved)


def test_tap_major_conv_under_bfloat16_autocast_matches_autocast_conv():
    from models.networks.condconv import tap_major_conv2d
    torch.manual_seed(0)
    x = torch.randn(1, 4, 6, 6)
    weight = torch.randn(18, 4, 3, 3, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        ours = tap_major_conv2d(x, weight, None, 1)
        reference = F.conv2d(x, to_tap_major(weight), None, padding=1)
    assert ours.dtype == reference.dtype == torch.bfloat16
    assert torch.allclose(ours.float(), reference.float(), rtol=0, atol=1e-6)
    (grad,) = torch.autograd.grad(ours.float().sum(), weight)
    assert grad.dtype == torch.float32
