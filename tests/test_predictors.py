"""The fused predictors (one first-layer convolution per block, absent label channels left out) equal the
reference's separate predictors; the G step leaves D without gradients; the CPU allocator policy."""
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from helpers import define, ROOT, random_batch, train_opt
from models.networks import condconv
from models.networks.predictor import fused_first_layers
from train import training_run
from trainers.training_loop import build_trainer

LABEL_NC = 10


def _semantics(kind: str, opt) -> torch.Tensor:
    """(2, semantic_nc, 32, 32) conditioning input of one of three kinds."""
    torch.manual_seed(2)
    if kind == 'soft':
        return torch.rand(2, opt.semantic_nc, 32, 32)
    classes = torch.tensor([3, 7]) if kind == 'two_classes' else torch.tensor([5])
    label = classes[torch.randint(0, len(classes), (2, 1, 4, 4))].repeat_interleave(8, 2).repeat_interleave(8, 3)
    onehot = torch.zeros(2, opt.semantic_nc - 1, 32, 32).scatter_(1, label, 1.0)
    edges = (torch.rand(2, 1, 32, 32) > 0.8).float()
    return torch.cat((onehot, edges), dim=1)


@pytest.mark.parametrize('kind', ['two_classes', 'one_class', 'soft'])
@pytest.mark.parametrize('train', [True, False])
def test_fused_predictors_equal_the_reference_in_values_and_gradients(kind, train):
    # The paper's predictor width: with narrower ones the untrained generator saturates in eval mode.
    args = ('--dataset_mode', 'coco', '--label_nc', str(LABEL_NC), '--crop_size', '32', '--ngf', '8', '--use_vae',
            '--predictor_nc', '128')
    generators = []
    for impl in ('fused', 'reference'):
        opt = train_opt(*args, '--predictor_impl', impl)
        torch.manual_seed(0)
        generators.append(define('G', opt).train(train))
    generators[1].load_state_dict(generators[0].state_dict())
    seg, z = _semantics(kind, opt), torch.randn(2, opt.z_dim)
    state = generators[0].state_dict()
    fused, reference = (g(seg, z) for g in generators)
    # float32 sums in another order (fused first layers, channels-last convolutions), and batch statistics
    # over these tiny maps magnify it: up to 2e-4 of the output's scale here, against 5e-6 at full width.
    assert (fused - reference).abs().max() <= 1e-3 * reference.abs().max()
    # The same buffer updates: spectral norm's power iteration, batch-norm statistics in training.
    for (name, value), expected in zip(generators[0].state_dict().items(), generators[1].state_dict().values()):
        assert torch.allclose(value.double(), expected.double(), rtol=1e-4, atol=1e-6), name

    # float64 shows that the functions are the same, in values and gradients (in float32 the gradients of
    # parameters before a normalisation nearly cancel, so that any change of summation order shows).
    outputs = []
    for g in generators:
        g.load_state_dict(state)
        outputs.append(g.double()(seg.double(), z.double()))
        outputs[-1].square().sum().backward()
    assert torch.allclose(outputs[0], outputs[1], rtol=1e-9, atol=1e-12)
    for (name, fused), reference in zip(generators[0].named_parameters(), generators[1].parameters()):
        assert (fused.grad is None) == (reference.grad is None), name
        if reference.grad is not None:
            assert torch.allclose(fused.grad, reference.grad, rtol=1e-9, atol=1e-12), name


def test_without_autograd_the_generator_goes_tap_by_tap_channels_last_with_the_same_numbers(monkeypatch):
    args = ('--dataset_mode', 'coco', '--label_nc', str(LABEL_NC), '--crop_size', '64', '--ngf', '8', '--use_vae')
    generators = []
    for impl in ('fused', 'reference'):
        torch.manual_seed(0)
        generators.append(define('G',
                                 train_opt(*args, '--predictor_impl', impl, '--memory_format', 'channels_last')).eval())
    with torch.no_grad():  # biases start at zero: make them tell the taps apart
        for name, param in generators[0].named_parameters():
            if name.endswith('bias'):
                param.copy_(torch.randn_like(param) * 0.1)
    generators[1].load_state_dict(generators[0].state_dict())
    seg, z = _semantics('two_classes', train_opt(*args)), torch.randn(2, 256)
    seg = torch.nn.functional.interpolate(seg, size=(64, 64))
    with_autograd = generators[0](seg, z)

    layouts = []
    original = condconv.predicted_depthwise_conv
    monkeypatch.setattr(condconv, 'predicted_depthwise_conv', lambda x, *rest: layouts.append(
        x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()) or original(x, *rest))
    with torch.no_grad():
        reference = generators[1](seg, z)
        assert layouts == []
        tap_by_tap = generators[0](seg, z)
    assert len(layouts) == 2 * len(generators[0].schedule) and all(layouts)
    assert tap_by_tap.is_contiguous()
    assert torch.allclose(tap_by_tap, with_autograd, rtol=1e-5, atol=1e-6)
    assert torch.allclose(tap_by_tap, reference, rtol=1e-5, atol=1e-6)


def test_with_autograd_channels_last_generators_predict_tap_major_kernel_maps(monkeypatch):
    """Channels-last (--memory_format channels_last, and auto under bf16 on the CPU) kernel maps are predicted
    tap-major; contiguous ones (auto in float32 or with the reference formulation, --memory_format contiguous) in
    the released order."""
    opt = train_opt('--dataset_mode', 'coco', '--label_nc', str(LABEL_NC), '--crop_size', '32', '--ngf', '8')
    calls = []
    original = condconv.conditional_depthwise_conv

    def spy(x, kernels, stride, impl, tap_major):
        calls.append(([t.is_contiguous(memory_format=torch.channels_last) for t in (x, kernels)],
                      [t.is_contiguous() for t in (x, kernels)], tap_major))
        return original(x, kernels, stride, impl, tap_major)
    monkeypatch.setattr(condconv, 'conditional_depthwise_conv', spy)
    cases = (('auto', 'fused', torch.bfloat16), ('channels_last', 'fused', None), ('auto', 'fused', None),
             ('contiguous', 'fused', None), ('auto', 'reference', torch.bfloat16))
    for memory_format, predictor_impl, autocast in cases:
        opt.memory_format, opt.predictor_impl = memory_format, predictor_impl
        generator = define('G', opt)
        calls.clear()
        with torch.autocast('cpu', dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            generator(_semantics('two_classes', opt)).float().sum().backward()
        assert len(calls) == 2 * len(generator.schedule)
        if memory_format == 'contiguous' or predictor_impl == 'reference' or \
                autocast is None and memory_format == 'auto':
            assert all(nchw == [True, True] and not tap_major for _, nchw, tap_major in calls), memory_format
        else:
            assert all(channels_last == [True, True] and tap_major for channels_last, _,
                       tap_major in calls), memory_format
            # (maps of one pixel are in both layouts)
            assert sum(nchw == [False, False] for _, nchw, _ in calls) >= len(calls) - 2


def test_absent_label_channels_are_left_out_of_the_conditioning():
    opt = train_opt('--dataset_mode', 'coco', '--label_nc', str(LABEL_NC), '--crop_size', '32', '--ngf', '8')
    generator = define('G', opt)
    seg = _semantics('two_classes', opt)
    semantics, input_channels = generator.conditioning_semantics(seg)
    edge = opt.semantic_nc - 1
    assert input_channels.tolist() == [3, 7, edge] + list(range(opt.semantic_nc, opt.semantic_nc + opt.ngf))
    assert torch.equal(semantics, seg[:, [3, 7, edge]])

    opt.predictor_impl = 'reference'
    semantics, input_channels = define('G', opt).conditioning_semantics(seg)
    assert input_channels is None and semantics is seg


def test_fused_first_layers_equal_separate_convolutions_on_the_kept_channels():
    torch.manual_seed(0)
    convs = [nn.Conv2d(6, width, 3, padding=1) for width in (4, 2, 5)]
    full = torch.randn(1, 6, 9, 7)
    full[:, [1, 4]] = 0  # absent channels
    input_channels = torch.tensor([0, 2, 3, 5])
    outputs = fused_first_layers(convs, full[:, input_channels], input_channels)
    assert [o.shape[1] for o in outputs] == [4, 2, 5]
    for conv, out in zip(convs, outputs):
        assert torch.allclose(out, conv(full), rtol=1e-5, atol=1e-6)
    unbiased = nn.Conv2d(6, 3, 3, padding=1, bias=False)
    assert torch.allclose(fused_first_layers([unbiased], full[:, input_channels], input_channels)[0], unbiased(full),
                          rtol=1e-5, atol=1e-6)


def test_generator_step_leaves_the_discriminator_without_gradients():
    opt = train_opt('--dataset_mode', 'coco', '--label_nc', '4', '--crop_size', '64')
    trainer = build_trainer(training_run(opt))
    model = trainer.model
    trainer.run_step('G', random_batch(opt))
    assert all(p.grad is None and p.requires_grad for p in model.netD.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.netG.parameters())
    trainer.run_step('D', random_batch(opt))
    assert all(p.grad is not None for p in model.netD.parameters())


def test_cpu_allocator_policy():
    """In a process of its own: the policy is process-wide and cannot be undone."""
    code = ('from util.device import configure_cpu_allocator; '
            'print(configure_cpu_allocator("system"), configure_cpu_allocator("retain"))')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    expected = sys.platform.startswith('linux')  # glibc's mallopt
    assert result.stdout.split() == ['False', str(expected)]
