"""The package layering is a checked contract (.importlinter): train.py, test.py and scripts/ on top, then trainers,
options, models, data, util; a lower package never imports a higher one, no package has an import cycle, and
synthesis imports no training code. Options are read only where the layout says, the commands start without
torchvision, and no line of code is over 120 characters."""
import os
import subprocess
import sys

from helpers import ROOT


def test_import_contracts_are_kept():
    lint = [sys.executable, '-c', 'import sys; from importlinter.cli import lint_imports_command; '
            'sys.exit(lint_imports_command())', '--config', '.importlinter', '--no-cache']
    result = subprocess.run(lint, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert 'Contracts: 3 kept, 0 broken' in result.stdout


# Below options/ and the entry points (train.py, test.py, scripts/), parsed options (`opt`) are read only by the one
# place that makes a model from options; everything else, trainers/ and the networks included, takes a spec,
# settings or explicit arguments.
OPTION_READERS = {'models/from_options.py'}


def test_options_are_read_only_where_the_layout_says():
    import ast
    readers = []
    for folder in ('models', 'data', 'util', 'trainers'):
        for base, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                path = os.path.relpath(os.path.join(base, name), ROOT)
                if not name.endswith('.py') or path in OPTION_READERS:
                    continue
                tree = ast.parse(open(os.path.join(ROOT, path)).read())
                for node in ast.walk(tree):  # a property's decorators (`@opt.setter`) name the property, not options
                    if isinstance(node, ast.FunctionDef):
                        node.decorator_list = []
                names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
                names |= {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}  # parameters
                if 'opt' in names:
                    readers.append(path)
    assert readers == []


def test_the_commands_start_without_torchvision():
    """torchvision imports torch._dynamo (about 1.5 s a process); it is imported where a photo is first converted, so
    that commands which never convert one (synthesize.py, export.py, each benchmark child, torchrun's workers of
    test.py on generated data) do not pay for it."""
    scripts = ['train.py', 'test.py'] + [f'scripts/{name}' for name in sorted(os.listdir(os.path.join(ROOT, 'scripts')))
                                         if name.endswith('.py')]
    code = ('import contextlib, io, runpy, sys\n'
            f'for script in {scripts!r}:\n'
            '    sys.argv = [script, "--help"]\n'
            '    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n'
            '        runpy.run_path(script, run_name="__main__")\n'
            'print(sorted(name for name in ("torchvision", "torch._dynamo") if name in sys.modules))')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, 'PYTHONPATH': ROOT})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == '[]'


def test_synthesis_imports_no_training_module(tmp_path):
    """A fresh interpreter loads a model folder of each method, synthesizes with the API and with
    scripts/synthesize.py, and has imported no trainer, no loss and no method's objective (the registry names each
    objective module)."""
    code = f'''
import runpy, sys
import torch
import numpy as np
from PIL import Image
from models import method_registry
from models.sources import preset_file, read_spec_file
from models.spec import build_networks
from models.synthesizer import Synthesizer
Image.fromarray(np.zeros((64, 64), np.uint8)).save({str(tmp_path)!r} + '/map.png')
for preset in ('coco', 'oasis_coco'):
    spec = read_spec_file(preset_file(preset)).with_arguments(ngf=4, crop_size=64)
    networks = build_networks(spec, init=('xavier', 0.02))
    with torch.no_grad():  # a training-mode pass gives the spectral norms their vectors
        networks['G'].train()(torch.rand(2, spec.inputs.semantic_nc, 64, 64),
                              z=torch.randn(2, spec.z_dim))
    folder = {str(tmp_path)!r} + '/' + preset
    Synthesizer(networks['G'], networks['E'], spec).save_pretrained(folder)
    synthesizer = Synthesizer.from_pretrained(folder)
    label = synthesizer.semantics(torch.zeros(1, 1, 64, 64, dtype=torch.long))
    assert synthesizer.generate(label, synthesizer.styles_from_seeds([0])).shape == (1, 3, 64, 64)
    sys.argv = ['synthesize.py', '--model', folder, '--labels', {str(tmp_path)!r} + '/map.png', '--seeds', '0',
                '--out', folder + '_out', '--gpu_ids', '-1']
    try:
        runpy.run_path('scripts/synthesize.py', run_name='__main__')
    except SystemExit as exc:
        assert not exc.code, exc.code
training = {{m.objective.partition(':')[0] for m in map(method_registry.method, method_registry.names())}}
training |= {{'models.base_model', 'models.networks.loss'}}
print(sorted(name for name in sys.modules if name in training or name.split('.')[0] == 'trainers'))
'''
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, 'PYTHONPATH': ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == '[]'
    assert sorted(os.listdir(tmp_path / 'oasis_coco_out')) == ['index.html', 'labels', 'manifest.json', 'map_seed0.png']


LINE_LIMIT = 120


def test_no_line_of_code_is_longer_than_the_limit():
    from helpers import project_files
    long = [f'{path}:{number}' for path in project_files(suffix='.py')
            for number, line in enumerate(open(os.path.join(ROOT, path), encoding='utf-8'), 1)
            if len(line.rstrip('\n')) > LINE_LIMIT]
    assert long == []
