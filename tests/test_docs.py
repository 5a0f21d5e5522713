"""Every command the README and the docs/ pages show is one the scripts take: each `python <script> ...` line of
their bash blocks is parsed by its script, with --help last, so that a renamed option, a wrong choice or a value of
the wrong type in the documentation fails here. (The commands that run on data we can write run for real in the
other tests: the quickstart, train/test/synthesize on tiny models, the demo, the docs' Python examples.)"""
import os
import re
import shlex

import pytest

from helpers import ROOT, run_script

# docs/adding_a_method.md's commands run for real in tests/test_methods.py, on the method the page adds.
PAGES = ['README.md'] + sorted(os.path.join('docs', name) for name in os.listdir(os.path.join(ROOT, 'docs'))
                               if name.endswith('.md') and name != 'adding_a_method.md')
LAUNCHERS = {'torchrun', 'srun'}  # run a script in several processes: the script's own options follow it


def bash_blocks(page: str):
    return re.findall(r'^ *```bash\n(.+?)\n *```', open(os.path.join(ROOT, page)).read(), re.S | re.M)


def documented_commands(page: str):
    """(script, arguments) of each python command in the page's bash blocks."""
    found = []
    for block in bash_blocks(page):
        for line in block.replace('\\\n', ' ').splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = next((i for i, w in enumerate(words) if w in ('&&', '||', ';', '|')), len(words))
                command, words = words[:cut], words[cut + 1:]
                if command and command[0] in LAUNCHERS:
                    command = command[next(i for i, w in enumerate(command) if w.endswith('.py')):]
                elif command and command[0] == 'python' and len(command) > 1 and command[1].endswith('.py'):
                    command = command[1:]
                else:
                    continue
                found.append((command[0], command[1:]))
    return found


COMMANDS = [(page, script, args) for page in PAGES for script, args in documented_commands(page)]


def test_the_pages_show_commands_and_every_script_exists():
    assert len(COMMANDS) > 30
    assert {os.path.join('docs', name) for name in os.listdir(os.path.join(ROOT, 'docs')) if name.endswith('.md')}
    missing = sorted({script for _, script, _ in COMMANDS if not os.path.isfile(os.path.join(ROOT, script))})
    assert not missing


@pytest.mark.parametrize('page, script, args', COMMANDS,
                         ids=[f'{page}:{script}:{i}' for i, (page, script, _) in enumerate(COMMANDS)])
def test_each_documented_command_parses(page, script, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing the parse might look for (a run folder, a dataset) is there
    result = run_script(script, *args, '--help')
    assert result.returncode == 0, f'{page}: {script} {" ".join(args)}: {result.stderr[-1500:]}'
    given = {arg.split('=')[0] for arg in args if arg.startswith('--')}
    unknown = sorted(flag for flag in given if flag not in result.stdout)
    assert not unknown, f'{page}: {script} does not take {", ".join(unknown)}'
