"""Checkpoint files: reference layout, atomic writes, weights-only loading."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from conftest import ROOT, train_opt
from models.pix2pix_model import Pix2PixModel
from util import checkpoint
from util.errors import UserError


def test_files_are_plain_state_dicts_in_the_reference_layout(tmp_path):
    opt = train_opt('--dataset_mode', 'coco', '--use_vae', '--label_nc', '4', '--crop_size', '64',
                    '--checkpoints_dir', str(tmp_path), '--name', 'exp')
    model = Pix2PixModel(opt)
    model.save(3)
    assert sorted(os.listdir(tmp_path / 'exp')) == ['3_net_D.pth', '3_net_E.pth', '3_net_G.pth']
    state = torch.load(tmp_path / 'exp' / '3_net_G.pth', weights_only=True)
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    assert state.keys() == model.netG.state_dict().keys()


def test_failed_save_leaves_the_previous_file_and_no_temporaries(tmp_path, monkeypatch):
    path = str(tmp_path / 'latest_net_G.pth')
    checkpoint.atomic_torch_save({'w': torch.ones(3)}, path)
    real_save, calls = torch.save, []

    def broken_save(obj, f, *args, **kwargs):  # the second file of the group fails: the first is not renamed either
        real_save(obj, f, *args, **kwargs)
        calls.append(f)
        if len(calls) == 2:
            raise OSError('disk full')
    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError):
        checkpoint.atomic_save_group({path: {'w': torch.zeros(3)}, str(tmp_path / 'latest_net_D.pth'): {}})
    assert os.listdir(tmp_path) == ['latest_net_G.pth']
    assert torch.equal(torch.load(path, weights_only=True)['w'], torch.ones(3))


def test_kill_during_save_leaves_a_loadable_latest(tmp_path):
    script = textwrap.dedent(f'''
        import sys, torch
        sys.path.insert(0, {ROOT!r})
        from util.checkpoint import atomic_torch_save
        big = {{'w': torch.randn(4_000_000)}}
        print('ready', flush=True)
        while True:
            atomic_torch_save(big, {str(tmp_path / 'latest_net_G.pth')!r})
    ''')
    process = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == 'ready'
    time.sleep(1.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = torch.load(tmp_path / 'latest_net_G.pth', weights_only=True)
    assert state['w'].shape == (4_000_000,)
    # What the kill may leave besides is named so that no tool takes it for a checkpoint.
    assert [f for f in os.listdir(tmp_path) if f.endswith('.pth')] == ['latest_net_G.pth']
    assert all(f.startswith('.partial_') and f.endswith('.tmp') for f in os.listdir(tmp_path) if f != 'latest_net_G.pth')


def test_missing_epoch_lists_what_exists(tmp_path):
    opt = train_opt('--dataset_mode', 'coco', '--label_nc', '4', '--crop_size', '64',
                    '--checkpoints_dir', str(tmp_path), '--name', 'exp')
    Pix2PixModel(opt).save(5)
    opt.continue_train, opt.which_epoch = True, '7'
    with pytest.raises(UserError, match='available epochs: 5'):
        Pix2PixModel(opt)


def test_checkpoints_are_loaded_as_data_only(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ('echo unsafe',))
    path = tmp_path / 'latest_net_G.pth'
    torch.save({'w': Payload()}, path)
    with pytest.raises(UserError, match='not a readable checkpoint'):
        checkpoint.load_state_dict_file(str(path))
