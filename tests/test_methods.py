"""The methods registry: every list of methods derives from the method folders, and a new method is its folder alone
(docs/adding_a_method.md's least-squares GAN, written into a copy of the repository, trains, resumes exactly,
synthesizes, converts, loads back byte for byte and shows up in --model, the benchmark and hubconf)."""
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import ROOT, project_files
from models import method_registry
from models.base_model import TrainableModel
from models.networks import registry

GUIDE = os.path.join(ROOT, 'docs', 'adding_a_method.md')


def guide_files() -> dict:
    """{path: text} of the files docs/adding_a_method.md shows: a `path`: line, then its python block."""
    text = open(GUIDE).read()
    return dict(re.findall(r'^`(models/methods/[\w/]+\.py)`:\n\n```python\n(.*?)```', text, flags=re.S | re.M))


def copy_of_repository(destination) -> str:
    """The repository's files, as a clone has them."""
    for path in project_files():
        target = os.path.join(destination, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(os.path.join(ROOT, path), 'rb') as src, open(target, 'wb') as dst:
            dst.write(src.read())
    return str(destination)


def test_every_method_declares_a_folder_an_objective_and_its_networks():
    assert method_registry.names()[0] == method_registry.REFERENCE_METHOD
    for name in method_registry.names():
        method = method_registry.method(name)
        assert os.path.dirname(method.folder) == os.path.join(ROOT, 'models', 'methods')
        model = method.trainable_model()  # imported now, by name: nothing imports it to synthesize
        assert issubclass(model, TrainableModel) and model.optimization is not TrainableModel.optimization
        assert model.ema_policy.after in ('G', 'D') and model.settings_class.__dataclass_fields__
        assert set(method.discriminators) <= set(registry.names('discriminator'))
        assert method.default_generator in registry.names('generator')
    from options.train_options import TrainOptions
    TrainOptions().parse(['--model', 'oasis'], quiet=True)  # the registry is what --model chooses from
    with pytest.raises(SystemExit):
        TrainOptions().parse(['--model', 'nosuch'], quiet=True)


DRIVER = r'''
import contextlib, io, json, os, runpy, sys
import torch
from safetensors.torch import load_file

def run(script, *args):
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [script, *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(script, run_name='__main__')
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    assert code == 0, (script, args, err.getvalue()[-3000:])
    return out.getvalue()

work = sys.argv[1]
ck = os.path.join(work, 'ck')
tiny = ['--model', 'lsgan', '--dataset_mode', 'synthetic', '--ngf', '4', '--ndf', '4', '--batchSize', '2',
        '--max_dataset_size', '4', '--gpu_ids', '-1', '--cpu_allocator', 'system', '--no_vgg_loss',
        '--ema_decay', '0.9', '--checkpoints_dir', ck]
report = {'train_help': run('train.py', '--help'), 'benchmark_help': run('scripts/benchmark.py', '--help')}
run('train.py', *tiny, '--name', 'once', '--niter', '2')
run('train.py', *tiny, '--name', 'twice', '--niter', '1')
run('train.py', *tiny, '--name', 'twice', '--niter', '2', '--continue_train')
report['resumed_equal'] = {
    label: all(torch.equal(a, b) for a, b in zip(
        torch.load(os.path.join(ck, 'once', f'latest_net_{label}.pth'), weights_only=True).values(),
        torch.load(os.path.join(ck, 'twice', f'latest_net_{label}.pth'), weights_only=True).values()))
    for label in ('G', 'D', 'G_ema')}
report['spec'] = json.load(open(os.path.join(ck, 'once', 'networks.json')))
maps = os.path.join(work, 'maps')
run('scripts/synthesize.py', '--model', os.path.join(ck, 'once'), '--labels', maps,
    '--out', os.path.join(work, 'run_out'), '--gpu_ids', '-1')
folder = os.path.join(work, 'folder')
run('scripts/convert_checkpoint.py', '--name', 'once', '--checkpoints_dir', ck, '--out', folder)
run('scripts/synthesize.py', '--model', folder, '--labels', maps, '--out', os.path.join(work, 'folder_out'),
    '--gpu_ids', '-1')
saved = torch.load(os.path.join(ck, 'once', 'latest_net_G.pth'), weights_only=True)
converted = load_file(os.path.join(folder, 'G.safetensors'))
report['converted_equal'] = saved.keys() == converted.keys() and all(torch.equal(saved[k], converted[k]) for k in saved)
from models.synthesizer import Synthesizer
Synthesizer.from_pretrained(folder).save_pretrained(os.path.join(work, 'again'))
report['saved_again_equal'] = all(
    open(os.path.join(folder, name), 'rb').read() == open(os.path.join(work, 'again', name), 'rb').read()
    for name in ('config.json', 'G.safetensors'))
# A released checkpoint of the method: a preset in its folder, and the torch.hub entry it declares.
preset = dict(report['spec'], networks={'G': report['spec']['networks']['G']})
with open('models/methods/lsgan/presets/lsgan_synthetic.json', 'w') as f:
    json.dump(preset, f)
import hubconf
synthesizer = hubconf.lsgan_synthetic(weights=os.path.join(ck, 'once', 'latest_net_G.pth'))
report['hub_size'] = list(synthesizer.size)
print(json.dumps(report))
'''


@pytest.mark.slow(seconds=40)
def test_a_new_method_is_its_folder_alone(tmp_path):
    repo = copy_of_repository(tmp_path / 'repo')
    files = guide_files()
    assert sorted(files) == ['models/methods/lsgan/__init__.py', 'models/methods/lsgan/networks.py',
                             'models/methods/lsgan/objective.py']
    os.makedirs(os.path.join(repo, 'models', 'methods', 'lsgan', 'presets'))
    for path, text in files.items():
        with open(os.path.join(repo, path), 'w') as f:
            f.write(text)
    from PIL import Image
    import numpy as np
    os.makedirs(tmp_path / 'work' / 'maps')
    Image.fromarray((np.indices((64,
                                 64)).sum(0) // 16 % 12).astype(np.uint8)).save(tmp_path / 'work' / 'maps' / 'a.png')
    env = {**os.environ, 'PYTHONPATH': repo, 'OMP_NUM_THREADS': '1'}
    result = subprocess.run([sys.executable, '-c', DRIVER, str(tmp_path / 'work')], cwd=repo, capture_output=True,
                            text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    choices = ','.join(['pix2pix'] + sorted([*method_registry.names()[1:], 'lsgan']))
    assert f'--model {{{choices}}}' in report['train_help']
    assert 'lsgan' in report['train_help'].split('--model')[1].split('--')[0]  # its summary in the help
    assert f'--method {{{choices}}}' in report['benchmark_help']
    assert report['resumed_equal'] == {'G': True, 'D': True, 'G_ema': True}
    assert report['spec']['method'] == 'lsgan' and report['spec']['networks']['D']['class'] == 'PatchDiscriminator'
    assert report['spec']['networks']['G']['class'] == 'SPADEGenerator'
    work = tmp_path / 'work'
    assert (work / 'run_out' / 'a.png').read_bytes() == (work / 'folder_out' / 'a.png').read_bytes()
    assert report['converted_equal'] and report['saved_again_equal']
    assert report['hub_size'] == [64, 64]
    card = (work / 'folder' / 'README.md').read_text()
    assert 'Least Squares Generative Adversarial Networks' in card and '- lsgan' in card


def test_a_method_name_given_as_a_model_source_says_where_the_method_comes_from(tmp_path):
    from helpers import run_script
    for script, extra in (('test.py', ['--name', 'syn_oasis']), ('scripts/synthesize.py', ['--labels', str(tmp_path)])):
        result = run_script(script, '--model', 'oasis', '--checkpoints_dir', str(tmp_path), '--gpu_ids', '-1', *extra)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and '--model oasis is a method, which train.py takes' in \
            lines[0], (script, result.stderr[-500:])


def test_the_spec_records_dataroot_only_for_datasets_read_from_it():
    from helpers import train_opt
    from models.from_options import spec_from_options
    assert 'dataroot' not in spec_from_options(train_opt('--dataset_mode', 'synthetic')).provenance
    assert spec_from_options(train_opt('--dataset_mode', 'coco', '--dataroot', 'x')).provenance['dataroot'] == 'x'
