"""FID equals pytorch-fid's own computation; its statistics cache; segmentation scores on hand-made maps."""
import os
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import ROOT, write_random_inception_weights
from util import fid
from util.errors import UserError
from util.segmentation_metrics import confusion_matrix, evaluate_folders, scores


@pytest.fixture(scope='module')
def inception_weights(tmp_path_factory):
    return write_random_inception_weights(str(tmp_path_factory.mktemp('weights') / 'pt_inception_random.pth'))


def write_images(folder, count, seed, size=(48, 48)):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(os.path.join(folder, f'{i}.png'))
    return str(folder)


@pytest.mark.slow
def test_fid_equals_pytorch_fid(tmp_path, inception_weights):
    real = write_images(tmp_path / 'real', 6, 0)
    fake = write_images(tmp_path / 'fake', 5, 1)
    result = subprocess.run([sys.executable, 'scripts/evaluate.py', 'fid', '--real_dir', real, '--fake_dir', fake,
                             '--inception_weights', inception_weights, '--batch_size', '4', '--stats_cache',
                             str(tmp_path / 'cache'), '--device', 'cpu'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1].split()
    assert last[0] == 'fid'
    import pytorch_fid.inception as inception
    from pytorch_fid.fid_score import calculate_fid_given_paths
    with mock.patch.object(inception, 'load_state_dict_from_url',
                           lambda *a, **k: torch.load(inception_weights, weights_only=True)):
        expected = calculate_fid_given_paths([real, fake], 4, 'cpu', 2048, num_workers=0)
    assert float(last[1]) == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert float(last[1]) > 0


def test_statistics_cache_is_reused_and_invalidated(tmp_path, inception_weights, monkeypatch):
    real = write_images(tmp_path / 'real', 3, 0)
    model = fid.inception_model(inception_weights)
    first = fid.folder_statistics(real, model, 4, 'cpu', inception_weights, str(tmp_path / 'cache'))
    assert len(os.listdir(tmp_path / 'cache')) == 1
    import pytorch_fid.fid_score as fid_score
    monkeypatch.setattr(fid_score, 'calculate_activation_statistics', lambda *a, **k: pytest.fail('recomputed'))
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
    out = subprocess.run([sys.executable, 'scripts/evaluate.py', 'seg', '--pred_dir', str(tmp_path / 'pred'),
                          '--label_dir', str(tmp_path / 'gt'), '--num_classes', '5'], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == f'miou {(0.6 + 0.8 + 0.5) / 3:.6f}' and lines[-1] == 'pixel_accuracy 0.800000'
    with pytest.raises(UserError, match='--num_classes'):
        evaluate_folders(str(tmp_path / 'pred'), str(tmp_path / 'gt'), num_classes=2)
    Image.fromarray(pred[:2]).save(tmp_path / 'pred' / 'a.png')
    with pytest.raises(UserError, match='resize predictions'):
        evaluate_folders(str(tmp_path / 'pred'), str(tmp_path / 'gt'), num_classes=5)


def test_ema_update_arithmetic():
    from trainers.ema import ExponentialMovingAverage
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = ExponentialMovingAverage(net, decay=0.75)
    start = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(4.0)
        net[1].running_mean.fill_(3.0)
    ema.update(net)
    for averaged, original in zip(ema.net.parameters(), start):
        assert torch.allclose(averaged, original + 1.0)  # 0.75 * w + 0.25 * (w + 4)
    assert torch.equal(ema.net[1].running_mean, torch.full((2,), 3.0))
    assert not any(p.requires_grad for p in ema.net.parameters())


def test_ema_batch_norm_refresh_is_the_plain_mean():
    from trainers.ema import ExponentialMovingAverage
    net = torch.nn.BatchNorm1d(1)
    ema = ExponentialMovingAverage(net, decay=0.9)
    batches = [torch.tensor([[1.0], [3.0]]), torch.tensor([[5.0], [7.0]])]
    ema.refresh_batch_norm(lambda module, batch: module(batch), batches)
    assert ema.net.running_mean.item() == pytest.approx(4.0) and not ema.net.training
    assert ema.net.momentum == net.momentum


def test_best_fid_is_recorded_only_on_improvement(tmp_path):
    from helpers import train_opt
    from trainers.fid_monitor import FIDMonitor
    opt = train_opt('--dataset_mode', 'synthetic', '--checkpoints_dir', str(tmp_path), '--name', 'f')
    os.makedirs(tmp_path / 'f')
    monitor = FIDMonitor(opt)
    assert [monitor.record(v, 1, step) for step, v in enumerate([50.0, 60.0, 40.0, 40.0])] == [True, False, True, False]
    assert '"fid": 40.0' in (tmp_path / 'f' / 'best_fid.json').read_text()
    assert len((tmp_path / 'f' / 'fid_log.txt').read_text().splitlines()) == 4
    assert FIDMonitor(opt).best == 40.0  # a resumed run remembers the best


@pytest.mark.slow
def test_training_with_fid_and_ema_then_testing_with_ema(tmp_path, inception_weights):
    common = ['--dataset_mode', 'synthetic', '--name', 'fe', '--checkpoints_dir', str(tmp_path / 'ck'), '--gpu_ids', '-1']
    train = subprocess.run([sys.executable, 'train.py', *common, '--max_dataset_size', '8', '--niter', '1', '--ngf', '4',
                            '--ndf', '4', '--no_vgg_loss', '--batchSize', '2', '--ema_decay', '0.9', '--fid_freq', '8',
                            '--fid_num_images', '4', '--inception_weights', inception_weights],
                           cwd=ROOT, capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-2000:]
    folder = tmp_path / 'ck' / 'fe'
    assert len((folder / 'fid_log.txt').read_text().splitlines()) == 1
    for name in ('best_net_G.pth', 'best_net_G_ema.pth', 'latest_net_G_ema.pth', 'best_fid.json'):
        assert (folder / name).is_file(), name
    assert len(os.listdir(folder / 'fid' / 'real')) == 4
    ema = torch.load(folder / 'latest_net_G_ema.pth', weights_only=True)
    plain = torch.load(folder / 'latest_net_G.pth', weights_only=True)
    assert ema.keys() == plain.keys() and not torch.equal(ema['conv_img.weight'], plain['conv_img.weight'])
    test = subprocess.run([sys.executable, 'test.py', *common, '--use_ema', '--how_many', '2', '--results_dir',
                           str(tmp_path / 'res')], cwd=ROOT, capture_output=True, text=True)
    assert test.returncode == 0, test.stderr[-2000:]
    assert len(os.listdir(tmp_path / 'res' / 'fe' / 'test_latest' / 'images' / 'synthesized_image')) == 2
