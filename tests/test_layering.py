"""The package layering is a checked contract (.importlinter): train.py, test.py and scripts/ on top, then trainers,
options, models, data, util; a lower package never imports a higher one, and no package has an import cycle. Options
are read only where the layout says, and the commands start without torchvision."""
import os
import subprocess
import sys

from helpers import ROOT


def test_import_contracts_are_kept():
    lint = [sys.executable, '-c', 'import sys; from importlinter.cli import lint_imports_command; '
            'sys.exit(lint_imports_command())', '--config', '.importlinter', '--no-cache']
    result = subprocess.run(lint, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert 'Contracts: 2 kept, 0 broken' in result.stdout


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
