"""Checkpoint files: checkpoints/<name>/<epoch>_net_{G,D,E}.pth as plain state_dicts, written atomically."""
import argparse
import os
import re
import tempfile
from typing import Any, Dict, List

import torch

from util.errors import UserError

# Parameter-name patterns and the options that decide their shapes, for a readable mismatch message.
OPTION_HINTS = [
    (r'^(fc|labelenc1\.|embedding\.|.*(gen_weights|gen_se_weights)\d\.0\.|.*mlp_shared)', '--label_nc, --contain_dontcare_label, --no_instance'),
    (r'^fc\.', '--use_vae, --crop_size, --aspect_ratio, --z_dim'),
    (r'^(labelenc7|labellat6|labeldec6)', '--dataset_mode (cityscapes uses one more pyramid level)'),
    (r'^layer6', '--crop_size (the encoder has a sixth layer from 256 up)'),
    (r'^fc_(mu|var)', '--z_dim, --ngf'),
    (r'(running_mean|running_var|num_batches_tracked|weight_u|weight_v|weight_orig|\.bias)$', '--norm_G / --norm_D / --norm_E'),
    (r'.', '--ngf / --ndf (network widths)'),
]


def network_path(checkpoints_dir: str, name: str, epoch: str, label: str) -> str:
    return os.path.join(checkpoints_dir, name, f'{epoch}_net_{label}.pth')


def atomic_save_group(files: Dict[str, Any]) -> None:
    """torch.save every {path: object} to a temporary file first, then rename them all.

    A crash or kill while writing leaves every earlier file whole; the renames at the end take microseconds.
    """
    temporary = {}
    try:
        for path, obj in files.items():
            folder = os.path.dirname(path) or '.'
            fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.pth', dir=folder)
            temporary[path] = tmp
            with os.fdopen(fd, 'wb') as f:
                torch.save(obj, f)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in temporary.items():
            os.replace(tmp, path)
    finally:
        for tmp in temporary.values():
            if os.path.exists(tmp):
                os.remove(tmp)


def atomic_torch_save(obj: Any, path: str) -> None:
    atomic_save_group({path: obj})


def atomic_write_text(path: str, text: str) -> None:
    folder = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def cpu_state_dict(net: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


def existing_epochs(checkpoints_dir: str, name: str, label: str = 'G') -> List[str]:
    folder = os.path.join(checkpoints_dir, name)
    if not os.path.isdir(folder):
        return []
    pattern = re.compile(rf'^(.+)_net_{label}\.pth$')
    return sorted(m.group(1) for m in map(pattern.match, os.listdir(folder)) if m)


def load_state_dict_file(path: str) -> Dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:
        raise UserError(f'{path} is not a readable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})') from None
    if not isinstance(state, dict):
        raise UserError(f'{path} is not a state_dict')
    return state


def mismatch_report(net: torch.nn.Module, state: Dict[str, torch.Tensor], path: str) -> str:
    """One readable paragraph: which parameters differ and which options likely explain it."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    resized = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    for title, keys in (('shape differs', resized), ('missing in file', missing), ('not in model', unexpected)):
        if keys:
            shown = ', '.join(
                f'{k} (file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)})' if title == 'shape differs' else k
                for k in keys[:4])
            parts.append(f'{title}: {len(keys)} [{shown}{", ..." if len(keys) > 4 else ""}]')
    hints = []
    for pattern, hint in OPTION_HINTS:
        if any(re.search(pattern, k) for k in resized + missing + unexpected) and hint not in hints:
            hints.append(hint)
    return (f'{path} was built with other options than this model: ' + '; '.join(parts)
            + f'. Options that likely differ: {"; ".join(hints[:3])}')


def load_network(net: torch.nn.Module, label: str, epoch: str, opt: argparse.Namespace) -> torch.nn.Module:
    path = network_path(opt.checkpoints_dir, opt.name, str(epoch), label)
    if not os.path.isfile(path):
        available = existing_epochs(opt.checkpoints_dir, opt.name, label)
        where = f'available epochs: {", ".join(available)}' if available else \
            f'no {label} checkpoints in {os.path.join(opt.checkpoints_dir, opt.name)} (check --name and --checkpoints_dir)'
        raise UserError(f'no checkpoint {path} (--which_epoch {epoch}); {where}')
    state = load_state_dict_file(path)
    expected = net.state_dict()
    if set(state) != set(expected) or any(tuple(state[k].shape) != tuple(v.shape) for k, v in expected.items()):
        raise UserError(mismatch_report(net, state, path))
    net.load_state_dict(state, strict=True)
    return net
