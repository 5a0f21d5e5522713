"""Hostile and unlucky inputs: copied datasets, link loops, durable writes, huge files, reruns, tampered specs;
each one stops with one line (exit 1 or argparse's 2) and leaves nothing half-written."""
import os
import shutil
import stat

import numpy as np
import pytest
from PIL import Image

from helpers import run_script
from dataset_writers import write_coco
from data.image_folder import CACHE_NAME, make_dataset
from util.checkpoint import atomic_write_text


def check_dataset(*args):
    return run_script(os.path.join('scripts', 'check_dataset.py'), *args)


def test_a_copied_dataset_reads_its_own_files_not_the_originals(tmp_path):
    original = write_coco(str(tmp_path / 'original'), 'train')
    first = check_dataset('--dataset_mode', 'coco', '--dataroot', original, '--batchSize', '1')
    assert first.returncode == 0, first.stdout + first.stderr
    assert os.path.isfile(os.path.join(original, 'train_label', CACHE_NAME))  # COCO writes the cache
    copy = str(tmp_path / 'broken')
    shutil.copytree(original, copy)  # copies files.list too, as cp -r does
    broken = os.path.join(copy, 'train_label', '000000000002.png')
    label = np.array(Image.open(broken))
    label[3:5, 3:5] = 200
    Image.fromarray(label).save(broken)
    result = check_dataset('--dataset_mode', 'coco', '--dataroot', copy, '--batchSize', '1')
    assert result.returncode == 1
    assert broken in result.stdout and 'original' not in result.stdout
    assert all(path.startswith(copy) for path in make_dataset(os.path.join(copy, 'train_label'), read_cache=True))


def test_a_cache_of_absolute_paths_or_of_a_changed_subfolder_is_not_used(tmp_path):
    folder = tmp_path / 'maps'
    (folder / 'a').mkdir(parents=True)
    for name in ('a/1.png', '2.png'):
        Image.new('L', (4, 4)).save(folder / name)
    listed = make_dataset(str(folder), write_cache=True)
    assert [os.path.relpath(p, folder) for p in listed] == ['2.png', 'a/1.png']
    cache = folder / CACHE_NAME
    assert not any(os.path.isabs(line) for line in cache.read_text().splitlines()[1:])
    assert make_dataset(str(folder), read_cache=True) == listed
    # A file added in a subfolder makes the cache stale.
    os.utime(cache, (0, 0))
    Image.new('L', (4, 4)).save(folder / 'a' / '3.png')
    assert len(make_dataset(str(folder), read_cache=True)) == 3
    # An old cache of absolute paths elsewhere is ignored.
    atomic_write_text(str(cache), '/elsewhere/x.png\n')
    assert make_dataset(str(folder), read_cache=True) == sorted(make_dataset(str(folder)))


def test_link_loops_are_followed_once(tmp_path):
    root = write_coco(str(tmp_path / 'coco'), 'train', count=2)
    labels = os.path.join(root, 'train_label')
    os.symlink(labels, os.path.join(labels, 'self'))            # a link to its own folder
    os.makedirs(os.path.join(labels, 'deep'))
    os.symlink(os.path.join(labels, 'deep'), os.path.join(labels, 'deep', 'loop'))  # a loop below
    assert len(make_dataset(labels)) == 2
    result = check_dataset('--dataset_mode', 'coco', '--dataroot', root, '--batchSize', '1')
    assert result.returncode == 0, result.stdout + result.stderr


def test_atomic_writes_honour_the_umask_and_are_synced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)) or real_fsync(fd))
    old = os.umask(0o027)
    try:
        atomic_write_text(str(tmp_path / 'a.txt'), 'x')
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'a.txt').st_mode) == 0o640
    assert synced == [False, True]  # the file before the rename, its folder after
