"""Checkpoint files: checkpoints/<name>/<epoch>_net_{G,D,E}.pth as plain state_dicts, written atomically
(util.atomic); the same state_dicts as .safetensors files (model folders); loading them strictly with a readable
report of what differs."""
import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import torch

from util.atomic import TEMPORARY_PREFIX, TEMPORARY_SUFFIX, atomic_save_group, atomic_write_group, atomic_write_text, \
    check_writable_folder
from util.errors import UserError, exception_reason
from util.user_files import check_regular_file, read_json

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None

# Parameter-name patterns and the options that decide their shapes, for a readable mismatch message. (Names that
# only another network has come with the network: its `checkpoint_hints`, see models.networks.registry.)
OPTION_HINTS = [
    (r'^(fc|labelenc1\.|embedding\.|.*(gen_weights|gen_se_weights)\d\.0\.|.*mlp_shared)',
     '--label_nc, --contain_dontcare_label, --no_instance'),
    (r'^fc\.', '--use_vae, --crop_size, --aspect_ratio, --z_dim'),
    (r'^(labelenc7|labellat6|labeldec6|up_4)', '--num_upsampling_layers (cityscapes uses one more level by default)'),
    (r'^layer6', '--crop_size (the encoder has a sixth layer from 256 up)'),
    (r'^fc_(mu|var)', '--z_dim, --ngf'),
    (r'(running_mean|running_var|num_batches_tracked|weight_u|weight_v|weight_orig|\.bias)$',
     '--norm_G / --norm_D / --norm_E'),
    (r'.', '--ngf / --ndf (network widths)'),
]


NETWORKS_FILE = 'networks.json'
LOCK_FILE = '.lock'


def cpu_state_dict(net: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The state_dict on the CPU, each tensor contiguous (a network may hold channels-last weights)."""
    return {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}


class RunLock:
    """An exclusive lock on a run folder (flock on its `.lock`, which names the holder's process id), so that two
    training runs with one --name cannot interleave their files. Released by `release` or when the process ends,
    however it ends."""

    def __init__(self, path: str):
        self.path = path
        self.file = open(path, 'a+')
        try:
            if fcntl is not None:
                fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or 'unknown'
            self.file.close()
            raise UserError(f'{os.path.dirname(path)} is in use by another training run (process {holder}): wait '
                            'for it to end, or choose another --name') from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()

    def release(self) -> None:
        """Remove the lock file if it is still this lock's (the folder may have been removed or reused meanwhile,
        and another run's lock must stay), then let go of it."""
        if self.file.closed:
            return
        try:
            if os.path.samestat(os.stat(self.path), os.fstat(self.file.fileno())):
                os.remove(self.path)
        except FileNotFoundError:
            pass
        self.file.close()


class CheckpointStore:
    """The run folder checkpoints/<name>/: network weights `<epoch>_net_<label>.pth` (plain state_dicts with the
    reference's names), the training state beside them, iter.txt, the options and small logs. Every write is
    atomic; loading checks the layout and explains a mismatch."""

    def __init__(self, checkpoints_dir: str, name: str):
        self.folder = os.path.join(checkpoints_dir, name)

    def path(self, filename: str) -> str:
        return os.path.join(self.folder, filename)

    def network_path(self, epoch, label: str) -> str:
        return self.path(f'{epoch}_net_{label}.pth')

    def state_path(self, epoch) -> str:
        return self.path(f'{epoch}_train_state.pth')

    def epochs(self, label: str = 'G') -> List[str]:
        """The epochs that have a `<epoch>_net_<label>.pth`, sorted."""
        if not os.path.isdir(self.folder):
            return []
        pattern = re.compile(rf'^(.+)_net_{label}\.pth$')
        return sorted(m.group(1) for m in map(pattern.match, os.listdir(self.folder)) if m)

    def check_writable(self) -> None:
        check_writable_folder(self.folder, '--checkpoints_dir')

    def lock(self) -> 'RunLock':
        """Hold the run folder for this process (see RunLock); creates the folder."""
        os.makedirs(self.folder, exist_ok=True)
        return RunLock(self.path(LOCK_FILE))

    def remove_folder_if_empty(self) -> None:
        try:
            os.rmdir(self.folder)
        except OSError:
            pass

    def remove_stale_temporaries(self) -> List[str]:
        """Delete the temporary files that a killed save left behind; returns their names."""
        if not os.path.isdir(self.folder):
            return []
        stale = sorted(f for f in os.listdir(self.folder)
                       if f.startswith(TEMPORARY_PREFIX) and f.endswith(TEMPORARY_SUFFIX))
        for name in stale:
            os.remove(self.path(name))
        return stale

    def save(self, epoch, networks: Dict[str, Dict[str, torch.Tensor]], training_state: Optional[Dict] = None,
             spec_text: Optional[str] = None) -> None:
        """Write `<epoch>_net_<label>.pth` for each {label: state_dict} and, with `training_state` (which holds the
        position), `<epoch>_train_state.pth`, as one atomic group; then networks.json (`spec_text`, the model spec
        of models.spec) and iter.txt, which the reference reads on resume."""
        os.makedirs(self.folder, exist_ok=True)
        files = {self.network_path(epoch, label): state for label, state in networks.items()}
        if training_state is not None:
            files[self.state_path(epoch)] = training_state
        atomic_save_group(files)
        if spec_text is not None:
            self.write_text(NETWORKS_FILE, spec_text)
        if training_state is not None:
            position = training_state['position']
            self.write_text('iter.txt', f'{position["epoch"]}\n{position["epoch_iter"]}\n')

    def missing_checkpoint(self, epoch, label: str) -> str:
        """The line for a `<epoch>_net_<label>.pth` that is not there: the epochs that are."""
        available = self.epochs(label)
        where = f'available epochs: {", ".join(available)}' if available else \
            f'no {label} checkpoints in {self.folder} (check --name and --checkpoints_dir)'
        return f'no checkpoint {self.network_path(epoch, label)} (--which_epoch {epoch}); {where}'

    def load_training_state(self, epoch) -> Optional[Dict]:
        """The training state saved beside `<epoch>_net_G.pth`, or None when there is none."""
        path = self.state_path(epoch)
        if not os.path.isfile(path):
            return None
        state = load_tensor_file(path, 'training state')
        if not isinstance(state, dict) or 'position' not in state:
            raise UserError(f'training state {path} is not one that train.py writes: remove it to resume with fresh '
                            'optimizers, or resume from another --which_epoch')
        return state

    def write_text(self, filename: str, text: str) -> str:
        os.makedirs(self.folder, exist_ok=True)
        atomic_write_text(self.path(filename), text)
        return self.path(filename)

    def read_options(self) -> Dict[str, Any]:
        """The options of the run saved in opt.json ({} when there is none)."""
        path = self.path('opt.json')
        if not os.path.lexists(path):
            return {}
        return read_json(path, 'options file')

    def networks_path(self) -> str:
        return self.path(NETWORKS_FILE)

    def write_options(self, text: str, values: Dict[str, Any]) -> None:
        """opt.txt for people and opt.json for the code."""
        self.write_text('opt.txt', text + '\n')
        self.write_text('opt.json', json.dumps(values, indent=1, sort_keys=True))


def load_error_reason(exc: BaseException) -> str:
    """Why torch.load refused a file, in a few words: the unpickler's own reason (which torch puts after several
    lines of advice) or the first line of any other error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if 'WeightsUnpickler error' in line:
            detail = line.split('WeightsUnpickler error', 1)[1].strip(' :') or \
                (lines[index + 1] if index + 1 < len(lines) else '')
            return f'it holds more than tensors and plain values, or is not a torch file: {detail[:160]}'
    first = lines[0] if lines else type(exc).__name__
    if 'central directory' in first or 'failed reading zip archive' in first:
        return 'truncated or not a torch file'
    return f'{type(exc).__name__}: {first[:160]}'


def load_tensor_file(path: str, what: str = 'checkpoint', mmap: bool = False) -> Any:
    """torch.load(weights_only=True) on the CPU, or one line naming the file (`what` says what it should be,
    e.g. 'VGG19 weights file (--vgg_weights)') and why it cannot be read."""
    if not os.path.lexists(path):
        raise UserError(f'{path}: no such file ({what})')
    check_regular_file(path, what)  # a named pipe would block the read for ever
    try:
        return torch.load(path, map_location='cpu', weights_only=True, mmap=mmap)
    except Exception as exc:
        raise UserError(f'{path} is not a readable {what} ({load_error_reason(exc)}): replace the file') from None


def atomic_save_safetensors(files: Dict[str, Dict[str, torch.Tensor]], metadata: Dict[str, str]) -> None:
    """Every {path: state_dict} as a .safetensors file (with `metadata`), as one atomic group."""
    from safetensors.torch import save
    # safetensors refuses tensors that share memory or are views: each is written from a contiguous copy.
    atomic_write_group({path: save({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, metadata)
                        for path, state in files.items()}, lambda f, data: f.write(data))


def load_safetensors_file(path: str, what: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """The tensors of a .safetensors file, or one line naming it and why it cannot be read."""
    from safetensors.torch import load_file
    if not os.path.lexists(path):
        raise UserError(f'{path}: no such file ({what})')
    check_regular_file(path, what)
    try:
        return load_file(path, device='cpu')
    except Exception as exc:
        raise UserError(f'{path} is not a readable safetensors {what} ({exception_reason(exc)}): replace the '
                        'file') from None


def load_state_dict_file(path: str, what: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """A state_dict from a .pth (torch.load, tensors only) or a .safetensors file."""
    if path.endswith('.safetensors'):
        return load_safetensors_file(path, what)
    state = load_tensor_file(path, what)
    if not isinstance(state, dict):
        raise UserError(f'{path} is not a state_dict (a dict of tensors) but a {type(state).__name__}: replace '
                        'the file')
    return state


def load_strictly(net: torch.nn.Module, path: str) -> torch.nn.Module:
    """Load a state_dict file (.pth or .safetensors) into `net` strictly, or stop with one line that says what
    differs and which options likely explain it."""
    state = load_state_dict_file(path)
    expected = net.state_dict()
    if set(state) != set(expected) or any(tuple(getattr(state[k], 'shape', ())) != tuple(v.shape) for k,
                                          v in expected.items()):
        raise UserError(mismatch_report(net, state, path))
    net.load_state_dict(state, strict=True)
    return net


def layout_differences(net: torch.nn.Module,
                       state: Dict[str, torch.Tensor]) -> Tuple[str, List[str], List[str], List[str]]:
    """How a state_dict differs from a module's: a readable summary, and the resized, missing and unexpected names."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    resized = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    for title, keys in (('shape differs', resized), ('missing in file', missing), ('not in model', unexpected)):
        if keys:
            shown = ', '.join(f'{k} (file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)})'
                              if title == 'shape differs' else k for k in keys[:4])
            parts.append(f'{title}: {len(keys)} [{shown}{", ..." if len(keys) > 4 else ""}]')
    return '; '.join(parts), resized, missing, unexpected


def mismatch_report(net: torch.nn.Module, state: Dict[str, torch.Tensor], path: str) -> str:
    """One readable paragraph: which parameters differ and which options likely explain it."""
    summary, resized, missing, unexpected = layout_differences(net, state)
    hints = [hint for pattern, hint in getattr(net, 'checkpoint_hints', [])
             if any(re.search(pattern, k) for k in missing + unexpected)]
    for pattern, hint in OPTION_HINTS:
        if any(re.search(pattern, k) for k in resized + missing + unexpected) and hint not in hints:
            hints.append(hint)
    return (f'{path} was built with other options than this model: ' + summary
            + f'. Options that likely differ: {"; ".join(hints[:3])}')
