"""Test-session settings: two threads (one per pytest-xdist worker, so that `-n 2` fills two cores without
oversubscribing them), the modules with slow tests first (under xdist the short ones then fill in around them), and the CUDA
tests skipped where there is no GPU. Shared helpers are in helpers.py."""
import os

import pytest
import torch

torch.set_num_threads(1 if os.environ.get('PYTEST_XDIST_WORKER') else 2)


@pytest.fixture(scope='session')
def inception_weights(tmp_path_factory) -> str:
    """Random weights in the layout of pytorch-fid's Inception file (written once a session: 100 MB)."""
    from helpers import write_random_inception_weights
    return write_random_inception_weights(str(tmp_path_factory.mktemp('inception') / 'pt_inception_random.pth'))


def pytest_collection_modifyitems(config, items):
    # Modules with slow tests first, each module's tests kept together (its module-scoped fixtures built once).
    slow_modules = {item.module.__name__ for item in items if 'slow' in item.keywords}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)
