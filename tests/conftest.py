"""Test-session settings: two threads (one per pytest-xdist worker, so that `-n 2` fills two cores without
oversubscribing them), the longest tests first, and the CUDA tests skipped where there is no GPU. Shared helpers are
in helpers.py."""
import os

import pytest
import torch
from hypothesis import settings


THREADS = 1 if os.environ.get('PYTEST_XDIST_WORKER') else 2
torch.set_num_threads(THREADS)
# A fixed count for the commands run here and the ones they start: no fair-share watcher (util.threads) changing the
# count, and so the float sums, between two runs a test compares.
os.environ['OMP_NUM_THREADS'] = str(THREADS)
# Generated inputs (tests/test_fuzz.py): a fixed seed and 100 examples each in the suite (about 40 s of test time in
# all); `--hypothesis-profile long` for the long run. No example database (its cache of constants goes to
# .hypothesis/, which git ignores).
settings.register_profile('ci', max_examples=100, derandomize=True, deadline=10_000, database=None)
settings.register_profile('long', max_examples=2000, deadline=30_000, database=None)
settings.load_profile('ci')
# The commands the tests start (python scripts/x.py) import this tree's packages, whichever checkout an editable
# install (pip install -e .) points to.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ['PYTHONPATH'] = os.pathsep.join([ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p])


@pytest.fixture(scope='session')
def inception_weights(tmp_path_factory) -> str:
    """Random weights in the layout of pytorch-fid's Inception file (written once a session: 100 MB)."""
    from helpers import write_random_inception_weights
    return write_random_inception_weights(str(tmp_path_factory.mktemp('inception') / 'pt_inception_random.pth'))


SLOW_SECONDS = 10  # what a slow test takes when its marker does not say (slow(seconds=N) on the longest ones)


def expected_seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker('slow')
    return 0 if marker is None else marker.kwargs.get('seconds', SLOW_SECONDS)


def pytest_configure(config):
    # Under pytest-xdist, hand out tests two at a time rather than a quarter of a worker's share at once: with the
    # longest tests first, each starts on the next free worker and the short ones fill in around them (longest
    # processing time first), instead of two long ones queueing on one worker while the other runs out of work.
    if getattr(config.option, 'maxschedchunk', 0) is None:
        config.option.maxschedchunk = 2


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: -expected_seconds(item))  # stable: file order within equal estimates
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)
