"""train.py and test.py as a user runs them: pages, checkpoints, exact resume, interrupts, errors, DDP."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import (ENV, ROOT, SMALL_PREDICTORS, make_test_opt, random_state, released_layout, run_in_own_process,
                     run_script, torchrun, train_opt)
from dataset_writers import write_coco
from options.train_options import TrainOptions
from util.errors import UserError

pytestmark = pytest.mark.slow  # every test here trains

TINY = ['--ngf', '4', '--ndf', '4', '--crop_size', '64', '--no_vgg_loss', '--gpu_ids', '-1', '--batchSize', '2',
        '--cpu_allocator', 'system', *SMALL_PREDICTORS]


def run(script, *args, check=True):
    """train.py or test.py in this process, as on the command line (runs compared bit for bit share its threads)."""
    result = run_script(script, *args)
    if check and result.returncode != 0:
        raise AssertionError(f'{script} failed:\n{result.stderr[-3000:]}')
    return result


def synthetic_train(tmp_path, name, *extra, check=True):
    return run('train.py', '--dataset_mode', 'synthetic', '--name', name, '--checkpoints_dir', str(tmp_path / 'ck'),
               '--max_dataset_size', '6', *TINY, *extra, check=check)


def assert_page_images_exist(page):
    html = open(page).read()
    sources = re.findall(r'src="([^"]+)"', html)
    assert sources, page
    for src in sources:
        assert os.path.isfile(os.path.join(os.path.dirname(page), src)), src
    return sources


def test_train_then_test_on_synthetic(tmp_path):
    result = synthetic_train(tmp_path, 'syn', '--niter', '2', '--use_vae', '--display_freq', '2', '--print_freq', '2')
    assert result.stdout.startswith('options: ') and '(--print_options prints them)' in result.stdout
    folder = tmp_path / 'ck' / 'syn'
    for f in ('latest_net_G.pth', 'latest_net_D.pth', 'latest_net_E.pth', '2_net_G.pth', 'latest_train_state.pth',
              'opt.txt', 'opt.json', 'loss_log.txt', 'iter.txt'):
        assert (folder / f).is_file(), f
    assert 'GAN_Feat' in (folder / 'loss_log.txt').read_text()
    sources = assert_page_images_exist(str(folder / 'web' / 'index.html'))
    assert any('synthesized_image' in s for s in sources) and '<svg' in (folder / 'web' / 'index.html').read_text()
    state = torch.load(folder / 'latest_train_state.pth', weights_only=True)
    assert state['position']['epoch'] == 3

    result = run('test.py', '--dataset_mode', 'synthetic', '--name', 'syn', '--checkpoints_dir', str(tmp_path / 'ck'),
                 '--results_dir', str(tmp_path / 'res'), '--how_many', '3', '--gpu_ids', '-1')
    page = tmp_path / 'res' / 'syn' / 'test_latest' / 'index.html'
    assert str(page) in result.stdout and '----------------- Options' not in result.stdout
    assert_page_images_exist(str(page))
    for kind in ('input_label', 'synthesized_image', 'real_image'):
        assert sorted(os.listdir(page.parent / 'images' / kind)) == ['00000.png', '00001.png', '00002.png']


def test_train_then_test_on_tiny_coco(tmp_path):
    root = str(tmp_path / 'coco')
    write_coco(root, 'train', count=4, label_nc=6)
    write_coco(root, 'val', count=2, label_nc=6, seed=1)
    common = ['--dataset_mode', 'coco', '--dataroot', root, '--label_nc', '6', '--name', 'c',
              '--checkpoints_dir', str(tmp_path / 'ck'), '--load_size', '72']
    run('train.py', *common, *TINY, '--niter', '1')
    run('test.py', *common, '--results_dir', str(tmp_path / 'res'), '--gpu_ids', '-1')
    images = tmp_path / 'res' / 'c' / 'test_latest' / 'images' / 'synthesized_image'
    assert sorted(os.listdir(images)) == ['000000000001.png', '000000000002.png']


def weights(folder, epoch='latest'):
    return {label: torch.load(folder / f'{epoch}_net_{label}.pth', weights_only=True) for label in 'GDE'
            if (folder / f'{epoch}_net_{label}.pth').is_file()}


def assert_same_weights(a, b):
    for label in a:
        assert a[label].keys() == b[label].keys()
        for key in a[label]:
            assert torch.equal(a[label][key], b[label][key]), (label, key)


def test_resume_at_epoch_end_is_bit_identical(tmp_path):
    schedule = ['--use_vae', '--niter', '1', '--niter_decay', '2']
    synthetic_train(tmp_path, 'once', *schedule)
    synthetic_train(tmp_path, 'twice', '--use_vae', '--niter', '1')  # stops after epoch 1
    synthetic_train(tmp_path, 'twice', *schedule, '--continue_train')  # epochs 2 and 3, the learning rate decaying
    assert len(weights(tmp_path / 'ck' / 'once')) == 3
    assert_same_weights(weights(tmp_path / 'ck' / 'once'), weights(tmp_path / 'ck' / 'twice'))
    state = torch.load(tmp_path / 'ck' / 'twice' / 'latest_train_state.pth', weights_only=True)
    assert state['old_lr'] == pytest.approx(0.0) and state['position']['epoch'] == 4


@pytest.mark.slow(seconds=30)
def test_interrupt_saves_latest_mid_epoch_and_resume_continues_it(tmp_path):
    args = ['--dataset_mode', 'synthetic', '--checkpoints_dir', str(tmp_path / 'ck'), '--max_dataset_size', '16',
            '--niter', '2', '--print_freq', '2', *TINY]
    run_in_own_process('train.py', '--name', 'straight', *args)
    process = subprocess.Popen([sys.executable, 'train.py', '--name', 'stopped', *args], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    log = tmp_path / 'ck' / 'stopped' / 'loss_log.txt'
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and log.read_text().count('\n') >= 3):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # as a scheduler does; Ctrl-C's SIGINT takes the same path
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and 'interrupted: saved latest' in stderr and '--continue_train' in stderr
    assert 'error:' not in stderr  # a deliberate stop is not an error (the exit status still says it did not finish)
    position = torch.load(tmp_path / 'ck' / 'stopped' / 'latest_train_state.pth', weights_only=True)['position']
    assert position['epoch_iter'] > 0  # stopped inside an epoch
    run_in_own_process('train.py', '--name', 'stopped', *args, '--continue_train')
    assert_same_weights(weights(tmp_path / 'ck' / 'straight'), weights(tmp_path / 'ck' / 'stopped'))


def test_ctrl_c_and_sigterm_ask_training_to_stop_and_the_handlers_are_put_back():
    from trainers.training_loop import InterruptFlag
    before = {number: signal.getsignal(number) for number in InterruptFlag.SIGNALS}
    for number in InterruptFlag.SIGNALS:
        flag = InterruptFlag()
        os.kill(os.getpid(), number)
        assert flag.raised
        with pytest.raises(KeyboardInterrupt):  # a second one aborts
            os.kill(os.getpid(), number)
        flag.restore()
        assert {n: signal.getsignal(n) for n in InterruptFlag.SIGNALS} == before


def test_nonfinite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    synthetic_train(tmp_path, 'n', '--niter', '1')
    before = (tmp_path / 'ck' / 'n' / 'latest_net_G.pth').read_bytes()
    # The feature-matching distance turns NaN (as a diverging run's losses do; --lambda_feat nan is refused).
    monkeypatch.setattr(torch.nn.L1Loss, 'forward', lambda self, a, b: (a - b).abs().mean() * float('nan'))
    result = synthetic_train(tmp_path, 'n', '--niter', '2', '--continue_train', check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith('error: a loss is not finite')
    # Noticed without a host synchronisation per step, yet named at the step where it happened (in images, as
    # iterations are counted everywhere: the first step of batch size 2).
    assert 'GAN_Feat=nan' in result.stderr and 'at epoch 2, iteration 2: training stopped' in result.stderr
    assert 'untouched' in result.stderr
    assert (tmp_path / 'ck' / 'n' / 'latest_net_G.pth').read_bytes() == before


def test_bad_resume_and_output_folder_errors(tmp_path):
    synthetic_train(tmp_path, 'r', '--niter', '1')
    result = synthetic_train(tmp_path, 'r', '--continue_train', '--which_epoch', '9', check=False)
    assert result.returncode == 1 and 'available epochs: 1, latest' in result.stderr
    result = synthetic_train(tmp_path, 'missing', '--continue_train', check=False)
    assert result.returncode == 1 and 'check --name' in result.stderr
    assert result.stdout == ''  # the options table comes only once the run's checks pass
    (tmp_path / 'file').write_text('x')
    result = run('train.py', '--dataset_mode', 'synthetic', '--checkpoints_dir', str(tmp_path / 'file' / 'ck'), *TINY,
                 check=False)
    assert result.returncode == 1 and 'cannot write to' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run('test.py', '--dataset_mode', 'synthetic', '--name', 'r', '--checkpoints_dir', str(tmp_path / 'ck'),
                 '--which_epoch', '5', '--gpu_ids', '-1', check=False)
    assert result.returncode == 1 and 'available epochs: 1, latest' in result.stderr and result.stdout == ''


def test_test_options_come_from_the_training_run(tmp_path):
    synthetic_train(tmp_path, 'o', '--niter', '1', '--label_nc', '10', '--use_vae')
    opt = make_test_opt('--dataset_mode', 'synthetic', '--name', 'o', '--checkpoints_dir', str(tmp_path / 'ck'))
    assert (opt.ngf, opt.label_nc, opt.use_vae, opt.crop_size) == (4, 10, True, 64)
    opt = make_test_opt('--name', 'o', '--checkpoints_dir', str(tmp_path / 'ck'))  # dataset_mode too
    assert opt.dataset_mode == 'synthetic' and opt.semantic_nc == 11
    with pytest.raises(UserError) as info:
        make_test_opt('--name', 'o', '--checkpoints_dir', str(tmp_path / 'ck'), '--ngf', '8', '--label_nc', '10')
    assert '--ngf 8 (trained with 4)' in str(info.value) and 'label_nc' not in str(info.value)
    saved = json.load(open(tmp_path / 'ck' / 'o' / 'opt.json'))
    assert saved['ngf'] == 4 and 'ngf: 4 ' in (tmp_path / 'ck' / 'o' / 'opt.txt').read_text()
    continued = train_opt('--name', 'o', '--checkpoints_dir', str(tmp_path / 'ck'), '--continue_train', '--niter', '5')
    assert (continued.dataset_mode, continued.label_nc, continued.niter) == ('synthetic', 10, 5)


DDP_SCRIPT = r'''
import json, os, sys, torch
sys.path.insert(0, {root!r})
import torch.distributed as dist
from options.data_settings import data_settings
from options.train_options import TrainOptions
from train import training_run
from trainers.training_loop import build_trainer
from util.distributed import init_distributed
import data
info = init_distributed(use_cuda=False)
opt = TrainOptions().parse({args!r}, quiet=True)
torch.manual_seed(opt.seed)
loader = data.create_dataloader(data_settings(opt), info.world_size, info.rank)
trainer = build_trainer(training_run(opt), info)
seen = []
loader.sampler.set_epoch(1)
for batch in loader:
    trainer.run_iteration(batch)
    seen += batch['path']
model = trainer.model
checksum = sum(p.double().sum().item() for p in list(model.netG.parameters()) + list(model.netD.parameters()))
unused = [trainer.model_for[step].find_unused_parameters for step in 'GD']
json.dump({{'seen': seen, 'checksum': checksum, 'steps': len(seen), 'find_unused': unused}},
          open({out!r} + f'/rank{{info.rank}}.json', 'w'))
'''


@pytest.mark.slow(seconds=15)
def test_ddp_two_processes_on_cpu(tmp_path):
    args = ['--dataset_mode', 'synthetic', '--max_dataset_size', '8', '--name', 'ddp', '--checkpoints_dir',
            str(tmp_path / 'ck'), *TINY]
    script = tmp_path / 'ddp_steps.py'
    script.write_text(DDP_SCRIPT.format(root=ROOT, args=args, out=str(tmp_path)))
    result = torchrun(str(script))
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.load(open(tmp_path / f'rank{r}.json')) for r in (0, 1)]
    assert ranks[0]['checksum'] == ranks[1]['checksum']  # identical weights after the steps
    assert ranks[0]['steps'] == ranks[1]['steps'] == 4
    assert ranks[0]['find_unused'] == [False, False]  # every parameter DDP holds gets a gradient in its step
    assert not set(ranks[0]['seen']) & set(ranks[1]['seen'])  # each rank saw its own samples
    # train.py under torchrun: test_an_elastic_restart_after_a_lost_worker_resumes_from_latest_and_ends_bit_identical


def test_tf_log_writes_events_or_says_how_to_install(tmp_path):
    result = synthetic_train(tmp_path, 'tb', '--niter', '1', '--tf_log', check=False)
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        assert result.returncode == 1 and 'pip install tensorboard' in result.stderr
    else:
        assert result.returncode == 0 and os.listdir(tmp_path / 'ck' / 'tb' / 'logs')


@pytest.mark.slow(seconds=25)
def test_released_checkpoint_script_runs_as_written(tmp_path):
    """scripts/test_ade.sh with a checkpoint of the released ADE20K layout (random values) and a tiny ADE20K."""
    from dataset_writers import write_ade20k
    layout = released_layout()['ade20k']
    folder = tmp_path / 'checkpoints' / 'ade_best'
    os.makedirs(folder)
    for label in ('G', 'E'):
        torch.save(random_state(layout[f'net{label}']), folder / f'200_net_{label}.pth')
    write_ade20k(str(tmp_path / 'ade'), 'val', count=1, size=(64, 48))
    result = subprocess.run(['bash', 'scripts/test_ade.sh', '--dataroot', str(tmp_path / 'ade'), '--checkpoints_dir',
                             str(tmp_path / 'checkpoints'), '--results_dir', str(tmp_path / 'res'), '--gpu_ids', '-1'],
                            cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    images = tmp_path / 'res' / 'ade_best' / 'test_200' / 'images' / 'synthesized_image'
    assert os.listdir(images) == ['ADE_val_00000001.png']
    assert Image.open(images / 'ADE_val_00000001.png').size == (256, 256)


def test_dataset_smaller_than_a_batch_stops_before_writing_anything(tmp_path):
    result = synthetic_train(tmp_path, 'small', '--max_dataset_size', '3', '--batchSize', '4', check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1
    assert 'has 3 items' in lines[0] and '--batchSize 4' in lines[0]
    assert not (tmp_path / 'ck' / 'small').exists()


def test_failed_start_leaves_the_run_folder_as_it_was_and_stale_temporaries_are_removed(tmp_path):
    synthetic_train(tmp_path, 'run', '--niter', '1')
    folder = tmp_path / 'ck' / 'run'
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder) if (folder / name).is_file()}
    result = synthetic_train(tmp_path, 'run', '--niter', '2', '--continue_train', '--max_dataset_size', '1',
                             check=False)
    assert result.returncode == 1 and 'fewer than --batchSize' in result.stderr
    after = {name: (folder / name).read_bytes() for name in os.listdir(folder) if (folder / name).is_file()}
    assert after == before
    (folder / '.partial_abc123.tmp').write_bytes(b'half a checkpoint')
    result = synthetic_train(tmp_path, 'run', '--niter', '2', '--continue_train')
    assert 'note: removed 1 temporary file(s) that an interrupted save left' in result.stdout
    assert not (folder / '.partial_abc123.tmp').exists()


def test_non_finite_images_stop_test_py_with_the_checkpoint_named(tmp_path):
    synthetic_train(tmp_path, 'nan', '--niter', '1')
    path = tmp_path / 'ck' / 'nan' / 'latest_net_G.pth'
    state = torch.load(path, weights_only=True)
    state['conv_img.bias'].fill_(float('nan'))
    torch.save(state, path)
    result = run('test.py', '--dataset_mode', 'synthetic', '--name', 'nan', '--checkpoints_dir', str(tmp_path / 'ck'),
                 '--results_dir', str(tmp_path / 'res'), '--how_many', '2', '--gpu_ids', '-1', check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert lines[-1] == f'error: {path} generates non-finite pixels: the checkpoint is broken (a diverged run?); ' \
                        'use another --which_epoch'
    assert not list((tmp_path / 'res').rglob('*.png'))


def test_resume_keeps_the_runs_training_options_and_names_the_ones_changed(tmp_path):
    trained_with = ['--lr', '0.001', '--gan_mode', 'ls', '--lambda_feat', '20', '--no_ganFeat_loss']
    synthetic_train(tmp_path, 'r', '--niter', '1', *trained_with)
    options = TrainOptions()
    opt = options.parse(['--name', 'r', '--checkpoints_dir', str(tmp_path / 'ck'), '--continue_train', '--niter', '2'],
                        quiet=True)
    assert (opt.lr, opt.gan_mode, opt.lambda_feat, opt.no_ganFeat_loss, opt.batchSize) == (0.001, 'ls', 20.0, True, 2)
    assert opt.no_vgg_loss and opt.dataset_mode == 'synthetic' and opt.max_dataset_size == 6
    assert options.changed_options == {'niter': 1}
    result = synthetic_train(tmp_path, 'r', '--niter', '2', '--continue_train', '--lr', '0.002')
    notes = [line for line in result.stdout.splitlines() if line.startswith('note: resuming with')]
    assert notes == ["note: resuming with options that differ from the run's opt.json: --lr 0.002 (the run had 0.001), "
                     '--niter 2 (the run had 1)']
    assert json.load(open(tmp_path / 'ck' / 'r' / 'opt.json'))['lr'] == 0.002  # used, and logged
    state = torch.load(tmp_path / 'ck' / 'r' / 'latest_train_state.pth', weights_only=True)
    rates = {label: state[f'optimizer_{label}']['param_groups'][0]['lr'] for label in ('G', 'D')}
    assert rates == {'G': 0.001, 'D': 0.004} and state['base_lr'] == 0.002  # TTUR at the new rate, not the saved


def png_files(folder) -> dict:
    """{path relative to `folder`: bytes} of every PNG below it."""
    return {os.path.relpath(os.path.join(root, f), folder): open(os.path.join(root, f), 'rb').read()
            for root, _, names in os.walk(folder) for f in names if f.endswith('.png')}


def page_without_date(folder) -> str:
    """index.html without the line that says when it was written."""
    return re.sub(r'<p>\d\d:\d\d[AP]M on [^<]*</p>', '', (folder / 'index.html').read_text())


@pytest.mark.slow(seconds=17)
def test_torchrun_test_py_shards_the_batches_and_writes_what_one_process_writes(tmp_path):
    """Two gloo processes each synthesize their own batches (a VAE model, so each batch samples noise); the images
    equal one process's byte for byte, and rank 0's page lists every sample once, in the dataset's order."""
    from helpers import save_trained_looking_model
    save_trained_looking_model(str(tmp_path / 'ck'), 'vae', ['--dataset_mode', 'synthetic', '--use_vae'])
    common = ['--name', 'vae', '--checkpoints_dir', str(tmp_path / 'ck'), '--how_many', '7', '--batchSize', '2',
              '--gpu_ids', '-1']
    # Both with one thread a process (torchrun's default), so that both sum in the same order.
    run_in_own_process('test.py', *common, '--results_dir', str(tmp_path / 'one'))
    result = torchrun('test.py', *common, '--results_dir', str(tmp_path / 'two'))
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = (tmp_path / kind / 'vae' / 'test_latest' for kind in ('one', 'two'))
    assert len(png_files(one)) == 7 * 4 and png_files(one) == png_files(two)
    assert page_without_date(one) == page_without_date(two) and page_without_date(two).count('<h3>') == 7
    assert result.stdout.count('Test page:') == 1


@pytest.mark.slow(seconds=25)
def test_torchrun_synthesize_py_shards_the_label_maps_and_writes_what_one_process_writes(tmp_path):
    from helpers import save_trained_looking_model
    save_trained_looking_model(str(tmp_path / 'ck'), 'vae', ['--dataset_mode', 'synthetic', '--use_vae'])
    maps = tmp_path / 'maps'
    maps.mkdir()
    for index in range(5):
        Image.fromarray((np.indices((64, 64)).sum(0) // (8 + index) % 12).astype(np.uint8)).save(maps / f'm{index}.png')
    common = ['scripts/synthesize.py', '--name', 'vae', '--checkpoints_dir', str(tmp_path / 'ck'), '--labels',
              str(maps), '--seeds', '0-2', '--gpu_ids', '-1']
    run_in_own_process(*common, '--out', str(tmp_path / 'one'))
    result = torchrun(*common, '--out', str(tmp_path / 'two'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(png_files(tmp_path / 'one')) == 5 * 4 and png_files(tmp_path / 'one') == png_files(tmp_path / 'two')
    assert page_without_date(tmp_path / 'one') == page_without_date(tmp_path / 'two')
    # A bad map in one process's share stops every process before anything is written.
    (maps / 'm3.png').write_bytes(b'broken')
    result = torchrun(*common, '--out', str(tmp_path / 'three'))
    assert result.returncode != 0 and 'm3.png' in result.stderr and not (tmp_path / 'three').exists()


ELASTIC_SCRIPT = r'''
import os, runpy, sys
sys.path.insert(0, {root!r})
from trainers import training_loop
step = training_loop.TrainingLoop.step


def step_or_lose_a_worker(self, batch):
    # On the first start, rank 1 dies in the middle of epoch 2, as a lost machine does.
    if os.environ['TORCHELASTIC_RESTART_COUNT'] == '0' and self.dist.rank == 1 and \
            (self.counter.epoch, self.counter.batches_done) == (2, 1):
        os._exit(1)
    step(self, batch)


training_loop.TrainingLoop.step = step_or_lose_a_worker
sys.argv = ['train.py', *{args!r}]
runpy.run_path('train.py', run_name='__main__')
'''


@pytest.mark.slow(seconds=30)
def test_an_elastic_restart_after_a_lost_worker_resumes_from_latest_and_ends_bit_identical(tmp_path):
    args = ['--dataset_mode', 'synthetic', '--max_dataset_size', '8', '--checkpoints_dir', str(tmp_path / 'ck'),
            '--niter', '3', *TINY]
    straight = torchrun('train.py', *args, '--name', 'straight')
    assert straight.returncode == 0, straight.stderr[-3000:]
    # Only rank 0 writes: one end message, one loss log header, the checkpoints.
    assert straight.stdout.count('Training finished') == 1
    assert (tmp_path / 'ck' / 'straight' / 'loss_log.txt').read_text().count('Training Loss') == 1
    assert sorted(f for f in os.listdir(tmp_path / 'ck' / 'straight') if f.endswith('.pth')) == \
        ['3_net_D.pth', '3_net_G.pth', '3_train_state.pth', 'latest_net_D.pth', 'latest_net_G.pth',
         'latest_train_state.pth']
    script = tmp_path / 'lose_a_worker.py'
    script.write_text(ELASTIC_SCRIPT.format(root=ROOT, args=[*args, '--name', 'elastic']))
    elastic = torchrun('--max-restarts', '1', str(script))
    assert elastic.returncode == 0, elastic.stderr[-3000:]
    assert 'torchrun restarted the workers (restart 1): resuming from latest' in elastic.stdout
    assert_same_weights(weights(tmp_path / 'ck' / 'straight'), weights(tmp_path / 'ck' / 'elastic'))


def test_a_test_py_rerun_skips_the_written_batches_and_a_changed_job_starts_over(tmp_path, monkeypatch):
    from helpers import save_trained_looking_model
    from models.synthesizer import Synthesizer
    save_trained_looking_model(str(tmp_path / 'ck'), 'vae', ['--dataset_mode', 'synthetic', '--use_vae'])
    calls = []
    real = Synthesizer.synthesize_batch
    monkeypatch.setattr(Synthesizer, 'synthesize_batch', lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    job = ['--name', 'vae', '--checkpoints_dir', str(tmp_path / 'ck'), '--how_many', '6', '--batchSize', '2',
           '--gpu_ids', '-1', '--results_dir', str(tmp_path / 'res')]
    run('test.py', *job)
    images = tmp_path / 'res' / 'vae' / 'test_latest' / 'images'
    first = png_files(images)
    assert len(calls) == 3 and len(first) == 6 * 4
    (images / 'synthesized_image' / '00003.png').unlink()  # as a job killed before it wrote this image
    calls.clear()
    result = run('test.py', *job)
    assert len(calls) == 1 and 'note: 2 of 3 batches already have their images' in result.stdout
    assert png_files(images) == first  # the batch made again is the same, byte for byte
    calls.clear()
    run('test.py', *job, '--seed', '1')  # another job: everything again
    assert len(calls) == 3 and png_files(images)['synthesized_image/00000.png'] != first['synthesized_image/00000.png']
