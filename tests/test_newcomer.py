"""What a first-time user meets in the first hour: install mistakes, abbreviations, where model folders go, the
demo's seeds, and the notes and messages the commands print."""
import builtins
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, load_script, run_script, save_trained_looking_model
from util.errors import UserError


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    """A run folder of a model without a style encoder (synthetic classes)."""
    folder = str(tmp_path_factory.mktemp('checkpoints'))
    save_trained_looking_model(folder, 'plain', ['--dataset_mode', 'synthetic'])
    return folder


def label_file(tmp_path, name='map.png', **save) -> str:
    path = str(tmp_path / name)
    Image.fromarray((np.indices((64, 64)).sum(0) // 16 % 12).astype(np.uint8)).save(path, **save)
    return path


def test_a_torchvision_that_does_not_match_torch_is_one_line(monkeypatch):
    """A CPU torch beside a torchvision from another index fails on import (operator torchvision::nms does not
    exist); the commands say so in one line with both versions instead of a traceback."""
    from util.vision import require_torchvision
    real_import = builtins.__import__

    def failing(name, *args, **kwargs):
        if name == 'torchvision' or name.startswith('torchvision.'):
            raise RuntimeError('operator torchvision::nms does not exist')
        return real_import(name, *args, **kwargs)
    monkeypatch.delitem(sys.modules, 'torchvision', raising=False)
    monkeypatch.setattr(builtins, '__import__', failing)
    with pytest.raises(UserError) as info:
        require_torchvision()
    message = str(info.value)
    import torch
    assert f'torch {torch.__version__}' in message and 'torchvision ' in message and 'nms does not exist' in message
    assert 'from one index' in message and 'import torch, torchvision' in message
    readme = open(os.path.join(ROOT, 'README.md')).read()
    assert 'import torch, torchvision; print(torch.__version__, torchvision.__version__)' in readme


def test_the_quickstart_checks_the_pair_before_training_and_says_how_to_mend_it(tmp_path):
    """A torchvision that does not import (a CPU torch beside another index's torchvision): the quickstart's first
    check after installing stops with one line giving the recovery, before any training."""
    script = open(os.path.join(ROOT, 'scripts', 'quickstart.sh')).read()
    assert script.index('python -m util.vision') < script.index('python train.py')
    fake = tmp_path / 'torchvision'
    fake.mkdir()
    (fake / '__init__.py').write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(tmp_path), ROOT])}
    result = subprocess.run([sys.executable, '-m', 'util.vision'], capture_output=True, text=True, env=env, cwd=ROOT)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert 'pip uninstall -y torch torchvision && python -m pip install torch torchvision' in lines[0]
    fine = subprocess.run([sys.executable, '-m', 'util.vision'], capture_output=True, text=True, cwd=ROOT)
    assert fine.returncode == 0 and 'a working pair' in fine.stdout


def test_the_options_table_is_written_and_printed_only_when_asked(tmp_path):
    args = ['--dataset_mode', 'synthetic', '--checkpoints_dir', str(tmp_path), '--gpu_ids', '-1',
            '--max_dataset_size', '2', '--niter', '1', '--ngf', '4', '--ndf', '4', '--predictor_nc', '16',
            '--no_vgg_loss', '--batchSize', '2']
    quiet = run_script('train.py', *args, '--name', 'quiet')
    assert quiet.returncode == 0 and 'Options ---' not in quiet.stdout
    assert f'options: {tmp_path / "quiet" / "opt.txt"} (--print_options prints them)' in quiet.stdout
    assert 'Options ---' in (tmp_path / 'quiet' / 'opt.txt').read_text()
    shown = run_script('train.py', *args, '--name', 'shown', '--print_options')
    assert shown.returncode == 0 and shown.stdout.count('----------------- Options ---------------') == 1


def test_a_mistyped_name_lists_the_runs_there_are(plain, tmp_path):
    result = run_script('scripts/synthesize.py', '--name', 'plian', '--checkpoints_dir', plain, '--labels',
                        label_file(tmp_path), '--gpu_ids', '-1')
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1
    assert 'did you mean --name plain?' in lines[0] and f'the runs in {plain}: plain;' in lines[0]


def test_option_abbreviations_are_not_taken(plain, tmp_path):
    """argparse would take --label for --labels: every script takes whole names only."""
    result = run_script('scripts/synthesize.py', '--name', 'plain', '--checkpoints_dir', plain, '--label',
                        label_file(tmp_path), '--gpu_ids', '-1')
    assert result.returncode == 2 and 'unrecognized arguments: --label' in result.stderr
    result = run_script('train.py', '--batch', '4', '--checkpoints_dir', str(tmp_path))
    assert result.returncode == 2 and 'unrecognized arguments: --batch' in result.stderr
    result = run_script('scripts/evaluate.py', 'fid', '--real', 'a', '--fake_dir', 'b')
    assert result.returncode == 2


def test_model_folders_go_outside_the_code(plain, tmp_path):
    """The README's examples write to pretrained/ (ignored by git); an --out inside a code package is refused."""
    result = run_script('scripts/convert_checkpoint.py', '--name', 'plain', '--checkpoints_dir', plain, '--out',
                        os.path.join(ROOT, 'models', 'my_run'))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and 'inside the code package models/' in lines[0]
    assert not os.path.exists(os.path.join(ROOT, 'models', 'my_run'))
    pages = [os.path.join(ROOT, 'README.md')] + [os.path.join(ROOT, 'docs', name)
                                                 for name in os.listdir(os.path.join(ROOT, 'docs'))
                                                 if name.endswith('.md')]
    readme = ''.join(open(page).read() for page in pages)
    assert '--out models/' not in readme and '--out pretrained/my_run' in readme
    assert '/pretrained/' in open(os.path.join(ROOT, '.gitignore')).read()


def test_the_demo_refuses_a_seed_the_model_cannot_use(plain, tmp_path):
    """On a model without a style code, the API's seed 3 gave seed 0's image; now both it and a style photo are
    refused, as synthesize.py refuses --seeds."""
    demo_script = load_script('demo')
    from models.synthesizer import Synthesizer
    demo = demo_script.Demo(Synthesizer.from_pretrained(os.path.join(plain, 'plain')), '--name plain')
    path = label_file(tmp_path)
    assert demo.synthesize_file(path, 0, None).size == (64, 64)
    with pytest.raises(UserError, match='seed 3: this model makes one image per label map'):
        demo.synthesize_file(path, 3, None)
    with pytest.raises(UserError, match='a style photo: this model'):
        demo.synthesize_file(path, 0, path)


def test_notes_are_said_once_and_only_where_they_apply(plain, tmp_path, monkeypatch):
    import torch
    import util.device
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(util.device, '_announced', False)
    # --list_classes runs nothing on a device: no note about one
    listed = run_script('scripts/synthesize.py', '--name', 'plain', '--checkpoints_dir', plain, '--list_classes')
    assert listed.returncode == 0 and 'no GPU' not in listed.stdout and listed.stdout.split()[:2] == ['0', 'sky']
    made = run_script('scripts/synthesize.py', '--name', 'plain', '--checkpoints_dir', plain, '--labels',
                      label_file(tmp_path), '--out', str(tmp_path / 'out'))
    assert made.returncode == 0 and made.stdout.count('note: no GPU found') == 1
    # the options table: the synthetic dataset reads no --dataroot
    tested = run_script('test.py', '--name', 'plain', '--checkpoints_dir', plain, '--gpu_ids', '-1', '--results_dir',
                        str(tmp_path / 'results'), '--how_many', '1', '--print_options')
    assert tested.returncode == 0
    assert re.search(r'dataroot: \(not read by --dataset_mode synthetic\)', tested.stdout)
    assert './datasets/cityscapes/' not in tested.stdout


def test_a_jpeg_colour_label_map_is_named_as_such(plain, tmp_path):
    """Not "stray ids 103, 166", which nobody wrote: the colours JPEG blended."""
    from data.classes import label_set
    colors = label_set('synthetic', 12, False).colors
    ids = (np.indices((64, 64)).sum(0) // 16 % 12)
    path = str(tmp_path / 'colour.jpg')
    Image.fromarray(colors[ids]).save(path, quality=70)
    result = run_script('scripts/synthesize.py', '--name', 'plain', '--checkpoints_dir', plain, '--labels', path,
                        '--gpu_ids', '-1', '--out', str(tmp_path / 'out'))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and 'is a JPEG colour map' in lines[0]
    assert 'distinct colours' in lines[0] and 'stray ids' not in lines[0]


def test_fid_of_few_images_says_why_it_is_large(tmp_path, inception_weights):
    real, fake = tmp_path / 'real', tmp_path / 'fake'
    rng = np.random.default_rng(0)
    for folder in (real, fake):
        folder.mkdir()
        for k in range(3):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f'{k}.png')
    result = run_script('scripts/evaluate.py', 'fid', '--real_dir', str(real), '--fake_dir', str(fake),
                        '--inception_weights', inception_weights, '--stats_cache', '', '--dims', '64', '--device',
                        'cpu')
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'note: 3 generated images for 64-d features' in result.stdout and 'singular product' not in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith('fid ')


def test_the_readme_states_the_test_count_with_and_without_the_demos_requirements():
    """The README's test command does not install requirements-demo.txt, whose tests are then skipped: it states
    both counts, and the first is what pytest collects."""
    collected = subprocess.run([sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider'],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    total = int(re.search(r'(\d+) tests? collected', collected.stdout).group(1))
    demo = sum(1 for line in collected.stdout.splitlines() if line.startswith('tests/test_demo.py::'))
    readme = open(os.path.join(ROOT, 'README.md')).read()
    section = readme.split('## Two commands', 1)[1].split('\n## ', 1)[0]
    stated = re.search(r'(\d+) tests \((\d+) of them the\s+demo\'s', section)
    assert stated, 'the README states the count as "N tests (M of them the demo\'s"'
    assert (int(stated.group(1)), int(stated.group(2))) == (total, demo)
