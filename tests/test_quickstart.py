"""A shortened quickstart: a few minutes of training already make the images follow the layouts."""
import os
import subprocess

import pytest

from helpers import ENV, ROOT


@pytest.mark.slow(seconds=80)
def test_shortened_quickstart_follows_layouts(tmp_path):
    env = {**ENV, 'CHECKPOINTS': str(tmp_path / 'ck'), 'RESULTS': str(tmp_path / 'res')}
    # One epoch of 120 iterations instead of three of 200, and 16-wide kernel predictors instead of 128 (52 s
    # instead of 88 s; test.py and layout_fidelity.py read the width from the run); the extra arguments go to train.py.
    result = subprocess.run(['bash', 'scripts/quickstart.sh', '--niter', '1', '--niter_decay', '0',
                             '--max_dataset_size', '240', '--no_html', '--predictor_nc', '16'],
                            cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    errors = {line.split()[1]: float(line.split()[2]) for line in result.stdout.splitlines()
              if line.startswith('color_error')}
    assert set(errors) == {'trained', 'untrained', 'layout_blind'}
    assert errors['trained'] < 0.85 * min(errors['untrained'], errors['layout_blind']), errors
    assert 'Test page:' in result.stdout
    assert os.path.isfile(tmp_path / 'res' / 'quickstart' / 'test_latest' / 'index.html')
