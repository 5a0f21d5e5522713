"""The GPU path: run with `python -m pytest -m cuda` on a machine with CUDA (collected and skipped elsewhere)."""
import copy
import json
import os
import subprocess
import sys

import pytest
import torch

from helpers import define, ROOT, random_batch, train_opt
from train import training_run
from trainers.training_loop import build_trainer

pytestmark = pytest.mark.cuda
# The variants the README's GPU command compares: they decide --memory_format auto on CUDA.
GPU_VARIANTS = 'reference,ours_contiguous,ours_channels_last,ours_recompute'
SETUP = ['--dataset_mode', 'coco', '--use_vae', '--label_nc', '6', '--crop_size', '64', '--ngf', '8', '--ndf', '8']


def gpu_opt(*args):
    opt = train_opt(*SETUP, *args)
    opt.gpu_ids = '0'
    return opt


@pytest.mark.parametrize('extra', [['--depthconv_impl', 'lean'], ['--depthconv_impl', 'unfold'],
                                   ['--memory_format', 'channels_last'], ['--memory_format', 'contiguous'],
                                   ['--netG', 'spade']], ids=' '.join)
def test_networks_on_cuda_equal_the_cpu(extra):
    opt = train_opt(*SETUP, *extra)
    torch.manual_seed(0)
    nets = {'G': define('G', opt), 'D': define('D', opt), 'E': define('E', opt)}
    batch = random_batch(opt)
    semantics = torch.cat([torch.zeros(2, opt.num_labels, 64, 64).scatter_(1, batch['label'].long(), 1),
                           torch.rand(2, 1, 64, 64).round()], 1)
    z = torch.randn(2, opt.z_dim)
    # Each device starts from the same state: a train-mode pass moves spectral norm's power-iteration vectors.
    initial = {k: copy.deepcopy(net.state_dict()) for k, net in nets.items()}
    for train in (True, False):
        outputs = {}
        for device in ('cpu', 'cuda'):
            for k, net in nets.items():
                net.load_state_dict(initial[k])
            moved = {k: net.to(device).train(train) for k, net in nets.items()}
            # With autograd in train mode: the generator then predicts whole kernel maps (tap-major when
            # channels-last), without it a tap at a time.
            with torch.set_grad_enabled(train):
                outputs[device] = [out.detach() for out in (moved['G'](semantics.to(device), z=z.to(device)),
                                   *moved['D'](batch['image'].to(device), semantics.to(device))[1],
                                   *moved['E'](batch['image'].to(device)))]
        for cpu, cuda in zip(outputs['cpu'], outputs['cuda']):
            assert torch.allclose(cuda.cpu(), cpu, rtol=1e-4, atol=1e-4 * cpu.abs().max().item())


@pytest.mark.parametrize('amp', ['off', 'bf16', 'fp16'])
def test_training_step_on_cuda_has_finite_losses(amp):
    torch.manual_seed(0)
    opt = gpu_opt('--amp', amp)
    trainer = build_trainer(training_run(opt))
    assert trainer.model.device.type == 'cuda'
    batch = random_batch(opt)
    for _ in range(3):
        trainer.run_iteration(batch)
        assert all(torch.isfinite(v.float()).all() for v in trainer.get_latest_losses().values())


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason='needs two GPUs')
def test_two_process_torchrun_with_nccl_and_sync_batchnorm(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                             'train.py', '--dataset_mode', 'synthetic', '--max_dataset_size', '8', '--name', 'ddp',
                             '--checkpoints_dir', str(tmp_path), '--ngf', '4', '--ndf', '4', '--crop_size', '64',
                             '--no_vgg_loss', '--batchSize', '2', '--niter', '1', '--gpu_ids', '0'],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(tmp_path / 'ddp' / 'latest_net_G.pth', weights_only=True)
    assert all(torch.isfinite(v.float()).all() for v in state.values())
    saved = json.load(open(tmp_path / 'ddp' / 'opt.json'))
    assert saved['sync_bn'] is True


def test_benchmark_on_the_gpu_prints_time_memory_and_activations(tmp_path):
    result = subprocess.run([sys.executable, 'scripts/benchmark.py', '--crop_size', '64', '--ngf', '8', '--ndf', '8',
                             '--gpu_ids', '0', '--repeats', '1', '--warmup', '1', '--no_vgg', '--variants',
                             GPU_VARIANTS,
                             '--workdir', str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.strip().splitlines()[1:]]
    assert [r[2] for r in rows] == GPU_VARIANTS.split(',') * 4
    assert all(float(r[3]) > 0 and float(r[4]) > 0 for r in rows)
    assert all(float(r[9]) > 0 for r in rows if r[0] == 'train')
    assert os.path.isdir(tmp_path)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason='needs two GPUs')
def test_torchrun_evaluation_with_nccl_equals_one_gpu(tmp_path, inception_weights):
    """evaluate.py all on two GPUs (NCCL: features gathered, confusion matrices summed on the devices) scores as one."""
    import shutil
    from segmenter_files import write_published_files
    from test_evaluate_protocol import write_case
    root, results = write_case(tmp_path, 'coco', count=4)
    shutil.copytree(results, tmp_path / 'two')
    weights = write_published_files('deeplabv2_cocostuff', str(tmp_path / 'weights'), 7)
    common = ['scripts/evaluate.py', 'all', '--dataset_mode', 'coco', '--dataroot', root, '--segmenter_weights',
              weights,
              '--inception_weights', inception_weights, '--gpu_ids', '0', '--stats_cache', '', '--dims', '64',
              '--batch_size', '1']
    one = subprocess.run([sys.executable, *common, '--results', results], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    two = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                          *common, '--results', str(tmp_path / 'two')], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]
    metrics = [json.load(open(os.path.join(folder, 'metrics.json'))) for folder in (results, tmp_path / 'two')]
    assert metrics[0]['confusion_matrix'] == metrics[1]['confusion_matrix']
    assert metrics[0]['fid'] == pytest.approx(metrics[1]['fid'], rel=1e-5)
