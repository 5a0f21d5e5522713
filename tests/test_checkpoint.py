"""Checkpoint files: reference layout, atomic writes, weights-only loading."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from helpers import load_model, ROOT, save_model, train_opt
from models.from_options import build_model
from util import atomic
from util.checkpoint import load_state_dict_file
from util.errors import UserError


def test_files_are_plain_state_dicts_in_the_reference_layout(tmp_path):
    opt = train_opt('--dataset_mode', 'coco', '--use_vae', '--label_nc', '4', '--crop_size', '64',
                    '--checkpoints_dir', str(tmp_path), '--name', 'exp')
    model = build_model(opt)
    save_model(model, 3)
    assert sorted(os.listdir(tmp_path / 'exp')) == ['3_net_D.pth', '3_net_E.pth', '3_net_G.pth', 'networks.json']
    state = torch.load(tmp_path / 'exp' / '3_net_G.pth', weights_only=True)
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    assert state.keys() == model.netG.state_dict().keys()


def test_failed_save_leaves_the_previous_file_and_no_temporaries(tmp_path, monkeypatch):
    path = str(tmp_path / 'latest_net_G.pth')
    atomic.atomic_save_group({path: {'w': torch.ones(3)}})
    real_save, calls = torch.save, []

    def broken_save(obj, f, *args, **kwargs):  # the second file of the group fails: the first is not renamed either
        real_save(obj, f, *args, **kwargs)
        calls.append(f)
        if len(calls) == 2:
            raise OSError('disk full')
    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError):
        atomic.atomic_save_group({path: {'w': torch.zeros(3)}, str(tmp_path / 'latest_net_D.pth'): {}})
    assert os.listdir(tmp_path) == ['latest_net_G.pth']
    assert torch.equal(torch.load(path, weights_only=True)['w'], torch.ones(3))


def test_a_kill_inside_a_write_leaves_the_previous_latest(tmp_path):
    """The child is killed while it is writing the second save's files (half of G written, D not yet): every time,
    the previous latest stays whole and loads, and only a temporary file is left besides."""
    latest = str(tmp_path / 'latest_net_G.pth')
    script = textwrap.dedent(f'''
        import sys, time, torch
        sys.path.insert(0, {ROOT!r})
        from util import atomic
        atomic.atomic_save_group({{{latest!r}: {{'w': torch.ones(1000)}}}})

        def half_a_file_then_hang(obj, f, *args, **kwargs):
            f.write(b'PK' + bytes(5000))
            f.flush()
            print('writing', flush=True)
            time.sleep(120)
        torch.save = half_a_file_then_hang
        atomic.atomic_save_group({{{latest!r}: {{'w': torch.zeros(1000)}}, {latest.replace('_G', '_D')!r}: {{}}}})
    ''')
    process = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == 'writing'
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert torch.equal(torch.load(latest, weights_only=True)['w'], torch.ones(1000))
    others = [f for f in os.listdir(tmp_path) if f != 'latest_net_G.pth']
    # What the kill left is named so that no tool takes it for a checkpoint.
    assert len(others) == 1 and others[0].startswith('.partial_') and others[0].endswith('.tmp')
    assert os.path.getsize(tmp_path / others[0]) == 5002


def test_missing_epoch_lists_what_exists(tmp_path):
    opt = train_opt('--dataset_mode', 'coco', '--label_nc', '4', '--crop_size', '64',
                    '--checkpoints_dir', str(tmp_path), '--name', 'exp')
    save_model(build_model(opt), 5)
    opt.continue_train, opt.which_epoch = True, '7'
    with pytest.raises(UserError, match='available epochs: 5'):
        load_model(build_model(opt), opt.which_epoch)


def test_checkpoints_are_loaded_as_data_only(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ('echo unsafe',))
    path = tmp_path / 'latest_net_G.pth'
    torch.save({'w': Payload()}, path)
    with pytest.raises(UserError, match='not a readable checkpoint'):
        load_state_dict_file(str(path))
