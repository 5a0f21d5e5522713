"""What the networks are fed, shared by training and synthesis: the one-hot label map with its instance edges,
style codes (sampled from the encoder, or from a seed) and the mixed-precision context."""
from typing import TYPE_CHECKING, Optional

import torch

from util.errors import UserError
from .method_registry import label_orders

if TYPE_CHECKING:
    from .spec import ModelSpec

AMP_DTYPES = {'off': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def autocast(device: torch.device, amp: str):
    """Mixed precision for `--amp bf16|fp16`; float32 (the faithful numbers) for `off`."""
    dtype = AMP_DTYPES[amp]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def instance_edges(instance: torch.Tensor) -> torch.Tensor:
    """1 where a pixel differs from a 4-neighbour in the instance map, else 0."""
    edge = torch.zeros_like(instance, dtype=torch.bool)
    horizontal = instance[:, :, :, 1:] != instance[:, :, :, :-1]
    vertical = instance[:, :, 1:, :] != instance[:, :, :-1, :]
    edge[:, :, :, 1:] |= horizontal
    edge[:, :, :, :-1] |= horizontal
    edge[:, :, 1:, :] |= vertical
    edge[:, :, :-1, :] |= vertical
    return edge.float()


def one_hot_semantics(label: torch.Tensor, instance: Optional[torch.Tensor], num_labels: int) -> torch.Tensor:
    """The generator's input: the one-hot label map (N, num_labels, H, W), plus the instance edge map when the
    model reads one (`instance` None: none is added). `label` holds channel ids (N, 1, H, W)."""
    label = label.long()
    low, high = torch.aminmax(label)
    if low < 0 or high >= num_labels:
        bad = int(high) if high >= num_labels else int(low)
        raise UserError(f'label id {bad} is outside 0..{num_labels - 1}, the model\'s {num_labels} label channels '
                        '(--label_nc, plus one with --contain_dontcare_label): set --label_nc to the number of '
                        'classes or add --contain_dontcare_label')
    bs, _, h, w = label.shape
    semantics = torch.zeros(bs, num_labels, h, w, device=label.device).scatter_(1, label, 1.0)
    if instance is None:
        return semantics
    return torch.cat((semantics, instance_edges(instance)), dim=1)


def model_input(spec: 'ModelSpec', label: torch.Tensor, instance: Optional[torch.Tensor] = None,
                device: Optional[torch.device] = None) -> torch.Tensor:
    """The generator's input for (N, 1, H, W) label maps of channel ids, on `device`: the one input preparation of
    training and synthesis. A model that reads instance edges takes them from `instance`, or from the label map
    itself when there is none (region boundaries)."""
    label = label.to(device)
    reorder = label_orders()[spec.inputs.label_order].reorder  # the method's order of the channels
    if reorder is not None:
        label = reorder(label, spec.inputs)
    if not spec.reads_instances:
        return one_hot_semantics(label, None, spec.inputs.num_labels)
    return one_hot_semantics(label, (label if instance is None else instance).to(device), spec.inputs.num_labels)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A sample of N(mu, exp(logvar)), drawn from the global RNG (as the reference)."""
    std = torch.exp(0.5 * logvar)
    return torch.randn_like(std) * std + mu


def seed_style(seed: int, z_dim: int) -> torch.Tensor:
    """The style code of a seed: (z_dim,) standard normal from a generator of its own."""
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))
