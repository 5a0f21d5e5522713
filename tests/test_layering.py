"""The package layering is a checked contract (.importlinter): train.py, test.py and scripts/ on top, then trainers,
options, models, data, util; a lower package never imports a higher one, and no package has an import cycle."""
import os

from importlinter.application.use_cases import lint_imports

from helpers import ROOT


def test_import_contracts_are_kept(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    kept = lint_imports(config_filename=os.path.join(ROOT, '.importlinter'), cache_dir=None, no_logo=True)
    report = capsys.readouterr().out
    assert kept, report
    assert 'Contracts: 2 kept, 0 broken' in report
