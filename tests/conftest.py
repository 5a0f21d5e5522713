"""Test-session settings: two threads, and the CUDA tests skipped where there is no GPU. Shared helpers are in
helpers.py."""
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope='session')
def inception_weights(tmp_path_factory) -> str:
    """Random weights in the layout of pytorch-fid's Inception file (written once a session: 100 MB)."""
    from helpers import write_random_inception_weights
    return write_random_inception_weights(str(tmp_path_factory.mktemp('inception') / 'pt_inception_random.pth'))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)
