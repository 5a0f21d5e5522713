"""The package layering is a checked contract (.importlinter): train.py, test.py and scripts/ on top, then trainers,
options, models, data, util; a lower package never imports a higher one, and no package has an import cycle."""
import subprocess
import sys

from helpers import ROOT


def test_import_contracts_are_kept():
    lint = [sys.executable, '-c', 'import sys; from importlinter.cli import lint_imports_command; '
            'sys.exit(lint_imports_command())', '--config', '.importlinter', '--no-cache']
    result = subprocess.run(lint, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert 'Contracts: 2 kept, 0 broken' in result.stdout
