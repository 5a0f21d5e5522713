"""Whether a model fits the machine, known from its spec before any of it is allocated.

Every size argument has its own limit (models.networks.limits), but sizes within them can be too large together:
--ngf 256, --crop_size 2048 and --z_dim 1024 with a VAE ask for a 68 GB layer. A model larger than the published
ones (PUBLISHED_SIZES) is therefore built on the meta device first, where its parameters and one image's
activations are counted without memory, and refused in one line when they exceed the budget: the machine's memory
(the GPU's on CUDA), or --memory_budget. The published sizes themselves are not sized this way: building on the
meta device imports PyTorch's compiler stack (about 1.5 s), which every command would pay.
"""
import os
from typing import Iterable, Optional, Tuple

import torch

from util.errors import UserError
from .spec import ModelSpec, build_networks

# The largest value of each size argument among the published models (CC-FPSE, SPADE, OASIS).
PUBLISHED_SIZES = {'ngf': 64, 'ndf': 64, 'crop_size': 1024, 'z_dim': 256, 'semantic_nc': 256, 'predictor_nc': 128}
# How the meta build computes: CC-FPSE's reference predictors (its fused ones look at the data, which the meta
# device has not) and the unfolded convolution, an upper bound of the others' memory.
META_RUNTIME = {'predictor_impl': 'reference', 'depthconv_impl': 'unfold'}


def machine_memory(device: torch.device) -> int:
    """Bytes of memory on `device`: the GPU's, or the machine's physical memory."""
    if device.type == 'cuda':
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def beyond_published(spec: ModelSpec) -> bool:
    return any(isinstance(value, (int, float)) and not isinstance(value, bool) and value > PUBLISHED_SIZES[name]
               for network in spec.networks.values() for name, value in network.arguments.items()
               if name in PUBLISHED_SIZES)


def model_bytes(spec: ModelSpec, labels: Iterable[str], source: str = 'the spec') -> Tuple[int, int]:
    """(parameter bytes, bytes of every layer's output for one image) of the spec's networks among `labels`,
    counted on the meta device (float32)."""
    meta = torch.device('meta')
    with meta:
        networks = {label: net for label, net in build_networks(spec, meta, META_RUNTIME, labels, source=source).items()
                    if net}
    parameters = sum(p.numel() for net in networks.values() for p in net.parameters()) * 4
    outputs = [0]

    def count(module, inputs, output):
        outputs[0] += sum(t.numel() for t in (output if isinstance(output, (tuple, list)) else [output])
                          if isinstance(t, torch.Tensor))
    hooks = [m.register_forward_hook(count) for net in networks.values() for m in net.modules()]
    width, height = spec.inputs.crop_size, round(spec.inputs.crop_size / spec.inputs.aspect_ratio)
    with meta, torch.no_grad():
        semantics = torch.zeros(1, spec.inputs.semantic_nc, height, width)
        z = torch.zeros(1, spec.code_dim) if spec.code_dim else None
        if 'G' in networks:
            networks['G'](semantics, z=z)
        if 'E' in networks:
            networks['E'](torch.zeros(1, spec.output_nc, height, width))
    for hook in hooks:
        hook.remove()
    return parameters, outputs[0] * 4


def check_memory(spec: ModelSpec, device: torch.device, budget_gb: Optional[float], source: str,
                 labels: Iterable[str] = 'GE', batch_size: int = 1, training: bool = False) -> None:
    """Stop with one line (the estimate and the option) when a model beyond the published sizes would not fit
    `budget_gb` (0 or None: the machine's memory); `source` names where the spec comes from. Training counts the
    gradients and Adam's two moments too (4 x the parameters) and the activations of a batch."""
    if not beyond_published(spec):
        return
    budget = budget_gb * 2 ** 30 if budget_gb else machine_memory(device)
    parameters, activations = model_bytes(spec, labels, source)
    needed = parameters * (4 if training else 1) + activations * batch_size
    if needed > budget:
        raise UserError(f'{source}: the model needs about {needed / 2 ** 30:.1f} GB ({parameters / 4 / 1e6:,.0f} M '
                        f'parameters, {activations * batch_size / 2 ** 30:.1f} GB of activations for '
                        f'{batch_size} image(s) at {spec.inputs.crop_size}), more than the {budget / 2 ** 30:.1f} GB '
                        'budget: choose smaller sizes (--ngf, --crop_size, --z_dim), or raise --memory_budget (GB)')
