"""Mixed precision, recomputation, and the benchmark script (behaviour only; speed is the benchmark's job)."""
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, random_batch, train_opt
from trainers.pix2pix_trainer import Pix2PixTrainer


@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_amp_runs_a_full_generator_and_discriminator_step(amp):
    torch.manual_seed(0)
    opt = train_opt('--dataset_mode', 'coco', '--use_vae', '--label_nc', '3', '--crop_size', '64', '--amp', amp)
    trainer = Pix2PixTrainer(opt)
    if amp == 'fp16':  # start the loss scale low so that the first steps are not all skipped for overflow
        trainer.scalers = {name: torch.amp.GradScaler('cpu', init_scale=2.0 ** 6) for name in 'GD'}
    before = [p.detach().clone() for p in trainer.pix2pix_model_on_one_gpu.netG.parameters()]
    data = random_batch(opt)
    after = list(trainer.pix2pix_model_on_one_gpu.netG.parameters())
    # float16 loss scaling starts high and skips the steps whose gradients overflow, lowering the scale.
    for _ in range(20):
        trainer.run_generator_one_step(data)
        trainer.run_discriminator_one_step(data)
        losses = trainer.get_latest_losses()
        assert set(losses) == {'KLD', 'GAN', 'GAN_Feat', 'D_Fake', 'D_real'}
        assert all(torch.isfinite(v.float()).all() for v in losses.values())
        if any(not torch.equal(a, b) for a, b in zip(before, after)):
            break
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(p.dtype == torch.float32 for p in after)  # master weights stay float32


def test_recomputed_predictors_give_the_same_gradients():
    grads = []
    for extra in ([], ['--checkpoint_predictors']):
        opt = train_opt('--dataset_mode', 'coco', '--label_nc', '5', '--crop_size', '64', *extra)
        torch.manual_seed(0)
        from models.pix2pix_model import Pix2PixModel
        model = Pix2PixModel(opt)
        torch.manual_seed(1)
        losses, _ = model(random_batch(opt), mode='generator')
        sum(losses.values()).backward()
        grads.append([p.grad for p in model.netG.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1])
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(*grads))


@pytest.mark.slow
def test_benchmark_runs_in_a_tiny_configuration(tmp_path):
    result = subprocess.run([sys.executable, 'scripts/benchmark.py', '--crop_size', '64', '--ngf', '4', '--ndf', '4',
                             '--gpu_ids', '-1', '--repeats', '1', '--warmup', '0', '--no_vgg', '--modes', 'inference',
                             '--workdir', str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.strip().splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [('inference', a, v) for a in ('off', 'bf16') for v in ('reference', 'ours')]
    # seconds, peak MiB, MiB above the loaded libraries, then the three ratios to the float32 reference.
    assert all(float(r[3]) > 0 and float(r[4]) > 0 and float(r[5]) > 0 for r in rows)
    assert rows[0][6:] == ['1.00', '1.00', '1.00']
    assert all(len(r) == 9 for r in rows)
