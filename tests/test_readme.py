"""The README's two set-up commands are the ones that CI and the quickstart run."""
import os
import re

from helpers import ROOT


def readme_commands():
    text = open(os.path.join(ROOT, 'README.md')).read()
    section = text.split('## Two commands', 1)[1].split('\n## ', 1)[0]
    return re.findall(r'```bash\n(.+?)\n```', section)


def test_readme_has_exactly_two_setup_commands():
    assert readme_commands() == ['bash scripts/quickstart.sh',
                                 'python -m pip install -q -r requirements.txt pytest && python -m pytest -q']


def test_ci_runs_the_readme_test_command():
    ci = open(os.path.join(ROOT, '.ci', 'run')).read().strip().splitlines()
    assert ci[-1] == readme_commands()[1]
