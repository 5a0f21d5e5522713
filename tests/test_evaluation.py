"""FID equals pytorch-fid's own computation; its statistics cache; segmentation scores on hand-made maps."""
import json
import os
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import run_script
from util import fid
from util.errors import UserError
from util.segmentation_metrics import confusion_matrix, evaluate_folders, scores


def write_images(folder, count, seed, size=(48, 48)):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3),
                                     dtype=np.uint8)).save(os.path.join(folder, f'{i}.png'))
    return str(folder)


@pytest.mark.slow
def test_fid_equals_pytorch_fid(tmp_path, inception_weights):
    """The value through `evaluate.py fid --dims 64` (a square root of a 64x64 matrix: fast) equals pytorch-fid's
    for the same folders; at the papers' 2048 the statistics equal pytorch-fid's (the distance is its own function
    in both cases)."""
    real = write_images(tmp_path / 'real', 6, 0)
    fake = write_images(tmp_path / 'fake', 5, 1)
    cache = str(tmp_path / 'cache')
    result = run_script('scripts/evaluate.py', 'fid', '--real_dir', real, '--fake_dir', fake, '--inception_weights',
                        inception_weights, '--batch_size', '4', '--stats_cache', cache, '--device', 'cpu', '--dims',
                        '64')
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1].split()
    assert last[0] == 'fid'
    import pytorch_fid.inception as inception
    from pytorch_fid.fid_score import calculate_activation_statistics, calculate_fid_given_paths
    with mock.patch.object(inception, 'load_state_dict_from_url',
                           lambda *a, **k: torch.load(inception_weights, weights_only=True)):
        expected = calculate_fid_given_paths([real, fake], 4, 'cpu', 64, num_workers=0)
        pool3 = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
        expected_mu, expected_sigma = calculate_activation_statistics(fid.image_files(real), pool3, 4, 2048, 'cpu',
                                                                      num_workers=0)
    assert float(last[1]) == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert float(last[1]) > 0
    mu, sigma = fid.folder_statistics(real, fid.inception_model(inception_weights), 4, 'cpu', inception_weights, cache)
    assert mu.shape == (2048,) and np.array_equal(mu, expected_mu) and np.array_equal(sigma, expected_sigma)
    assert len(os.listdir(cache)) == 2  # the real folder's statistics at 64 and at 2048, cached apart
    # Statistics of one size against images compared at another: one line with the way out.
    stats = os.path.join(cache, sorted(os.listdir(cache))[0])
    other = '2048' if np.load(stats)['mu'].shape == (64,) else '64'
    result = run_script('scripts/evaluate.py', 'fid', '--real_dir', stats, '--fake_dir', fake, '--inception_weights',
                        inception_weights, '--device', 'cpu', '--dims', other)
    assert result.returncode == 1 and 'pass --dims' in result.stderr.strip().splitlines()[-1], result.stderr


def test_statistics_cache_is_reused_and_invalidated(tmp_path, inception_weights, monkeypatch):
    real = write_images(tmp_path / 'real', 3, 0)
    model = fid.inception_model(inception_weights)
    first = fid.folder_statistics(real, model, 4, 'cpu', inception_weights, str(tmp_path / 'cache'))
    assert len(os.listdir(tmp_path / 'cache')) == 1
    monkeypatch.setattr(fid, 'activations', lambda *a, **k: pytest.fail('recomputed'))
    again = fid.folder_statistics(real, model, 4, 'cpu', inception_weights, str(tmp_path / 'cache'))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    monkeypatch.undo()
    write_images(tmp_path / 'real', 4, 5)  # one more image: the cache no longer applies
    changed = fid.folder_statistics(real, model, 4, 'cpu', inception_weights, str(tmp_path / 'cache'))
    assert len(os.listdir(tmp_path / 'cache')) == 2 and not np.array_equal(first[0], changed[0])


def test_fid_errors(tmp_path, inception_weights, monkeypatch):
    real = write_images(tmp_path / 'real', 2, 0)
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(UserError, match='has no images'):
        fid.fid_between(real, str(tmp_path / 'empty'), inception_weights)
    small = write_images(tmp_path / 'small', 2, 0, size=(32, 32))
    with pytest.raises(UserError, match="generator's resolution"):
        fid.fid_between(real, small, inception_weights)
    write_images(tmp_path / 'mixed', 1, 0, size=(32, 32))
    Image.new('RGB', (40, 40)).save(tmp_path / 'mixed' / 'z.png')
    with pytest.raises(UserError, match='differ in size'):
        fid.fid_between(real, str(tmp_path / 'mixed'), inception_weights)
    import pytorch_fid.inception as inception
    monkeypatch.setattr(inception, 'load_state_dict_from_url', mock.Mock(side_effect=OSError('offline')))
    with pytest.raises(UserError, match='--inception_weights'):
        fid.inception_model('')


def test_segmentation_scores_on_hand_made_maps(tmp_path):
    label = np.array([[0, 0, 1, 1],
                      [0, 0, 1, 1],
                      [2, 2, 255, 255]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 1],
                     [0, 0, 1, 1],
                     [2, 0, 3, 0]], dtype=np.uint8)
    confusion = confusion_matrix(pred, label, num_classes=5)
    assert confusion.sum() == 10  # ignored pixels left out
    result = scores(confusion)
    # class 0: tp 3, gt 4, pred 4 -> 3/5; class 1: tp 4, gt 4, pred 5 -> 4/5; class 2: tp 1, gt 2, pred 1 -> 1/2
    assert result['iou'][:3] == pytest.approx([0.6, 0.8, 0.5])
    assert np.isnan(result['iou'][3]) and np.isnan(result['iou'][4])
    assert result['miou'] == pytest.approx((0.6 + 0.8 + 0.5) / 3)
    assert result['pixel_accuracy'] == pytest.approx(8 / 10)

    os.makedirs(tmp_path / 'pred')
    os.makedirs(tmp_path / 'gt')
    Image.fromarray(pred).save(tmp_path / 'pred' / 'a.png')
    Image.fromarray(label).save(tmp_path / 'gt' / 'a.png')
    out = run_script('scripts/evaluate.py', 'seg', '--pred_dir', str(tmp_path / 'pred'), '--label_dir',
                     str(tmp_path / 'gt'), '--num_classes', '5')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == f'miou {100 * (0.6 + 0.8 + 0.5) / 3:.6f}' and lines[-1] == 'pixel_accuracy 80.000000'
    assert 'scored 1 label maps of the 1 in --label_dir' in lines
    for extra in ('b', 'c'):  # ground truth without predictions: refused, or scored in part with --partial
        Image.fromarray(label).save(tmp_path / 'gt' / f'{extra}.png')
    seg = ['scripts/evaluate.py', 'seg', '--pred_dir', str(tmp_path / 'pred'), '--label_dir', str(tmp_path / 'gt'),
           '--num_classes', '5']
    refused = run_script(*seg)
    assert refused.returncode == 1 and 'has 1 predictions for the 3 ground-truth maps' in refused.stderr
    assert '--partial' in refused.stderr and 'miou' not in refused.stdout
    partial = run_script(*seg, '--partial')
    assert partial.returncode == 0 and 'scored 1 label maps of the 3 in --label_dir' in partial.stdout
    for extra in ('b', 'c'):
        os.remove(tmp_path / 'gt' / f'{extra}.png')
    with pytest.raises(UserError, match='--num_classes'):
        evaluate_folders(str(tmp_path / 'pred'), str(tmp_path / 'gt'), num_classes=2)
    Image.fromarray(pred[:2]).save(tmp_path / 'pred' / 'a.png')
    with pytest.raises(UserError, match='resize predictions'):
        evaluate_folders(str(tmp_path / 'pred'), str(tmp_path / 'gt'), num_classes=5)


@pytest.mark.slow  # full-size Inception weights
def test_best_score_is_recorded_only_on_improvement(tmp_path, inception_weights):
    from helpers import train_opt
    from train import training_run
    from trainers.training_loop import build_validation
    opt = train_opt('--dataset_mode', 'synthetic', '--checkpoints_dir', str(tmp_path), '--name', 'f', '--fid_dims',
                    '64',
                    '--inception_weights', inception_weights)
    os.makedirs(tmp_path / 'f')
    monitor = build_validation(training_run(opt), 'cpu')
    assert [monitor.record({'fid': v}, 1, step) for step,
            v in enumerate([50.0, 60.0, 40.0, 40.0])] == [True, False, True, False]
    assert '"fid": 40.0' in (tmp_path / 'f' / 'best_fid.json').read_text()
    assert len((tmp_path / 'f' / 'validation_log.txt').read_text().splitlines()) == 4
    assert build_validation(training_run(opt), 'cpu').best == 40.0  # a resumed run remembers the best
    # A metric where higher is better: mIoU picks the highest.
    opt.best_metric = 'miou'
    monitor = build_validation(training_run(opt), 'cpu')
    assert [monitor.record({'fid': 1.0, 'miou': v}, 1, step) for step,
            v in enumerate([20.0, 10.0, 30.0])] == [True, False, True]
    assert json.loads((tmp_path / 'f' / 'best_miou.json').read_text())['miou'] == 30.0
