"""The moving average of the generator: its arithmetic, its BatchNorm refresh, and training and testing with it."""
import os

import pytest
import torch

from helpers import SMALL_PREDICTORS, run_script
from models.methods.oasis.objective import OASISModel
from models.methods.pix2pix.objective import Pix2PixModel
from trainers.ema import ExponentialMovingAverage


def test_ema_update_arithmetic():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = ExponentialMovingAverage(net, decay=0.75, policy=Pix2PixModel.ema_policy)
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
    net = torch.nn.BatchNorm1d(1)
    ema = ExponentialMovingAverage(net, decay=0.9, policy=Pix2PixModel.ema_policy)
    batches = [torch.tensor([[1.0], [3.0]]), torch.tensor([[5.0], [7.0]])]
    ema.refresh_batch_norm(lambda module, batch: module(batch), batches)
    assert ema.net.running_mean.item() == pytest.approx(4.0) and not ema.net.training
    assert ema.net.momentum == net.momentum


def test_oasis_averages_every_state_entry_and_refreshes_with_the_running_momentum():
    """OASIS's EMA: ema * d + g * (1 - d) on parameters and buffers alike (the counter truncated to an integer);
    its re-estimation runs the batches in training mode from the statistics it has, with the layer's momentum."""
    net = torch.nn.BatchNorm1d(1)
    ema = ExponentialMovingAverage(net, decay=0.75, policy=OASISModel.ema_policy)
    with torch.no_grad():
        net.running_mean.fill_(4.0)
        net.num_batches_tracked.fill_(10)
    ema.update(net)
    assert ema.net.running_mean.item() == 1.0 and ema.net.num_batches_tracked.item() == 2  # 0.25 * 10 -> 2
    ema.refresh_batch_norm(lambda module, batch: module(batch), [torch.tensor([[1.0], [3.0]])])
    assert ema.net.running_mean.item() == pytest.approx(0.9 * 1.0 + 0.1 * 2.0) and not ema.net.training


@pytest.mark.slow
def test_training_with_fid_and_ema_then_testing_with_ema(tmp_path, inception_weights):
    common = ['--dataset_mode', 'synthetic', '--name', 'fe', '--checkpoints_dir', str(tmp_path / 'ck'), '--gpu_ids',
              '-1']
    train = run_script('train.py', *common, '--max_dataset_size', '8', '--niter', '1', '--ngf', '4', '--ndf', '4',
                       *SMALL_PREDICTORS,
                       '--no_vgg_loss', '--batchSize', '2', '--ema_decay', '0.9', '--fid_freq', '8', '--fid_num_images',
                       '4', '--fid_dims', '64', '--inception_weights', inception_weights)
    assert train.returncode == 0, train.stderr[-2000:]
    folder = tmp_path / 'ck' / 'fe'
    assert len((folder / 'validation_log.txt').read_text().splitlines()) == 1
    for name in ('best_net_G.pth', 'best_net_G_ema.pth', 'latest_net_G_ema.pth', 'best_fid.json'):
        assert (folder / name).is_file(), name
    assert len(os.listdir(folder / 'validation' / 'real')) == 4
    ema = torch.load(folder / 'latest_net_G_ema.pth', weights_only=True)
    plain = torch.load(folder / 'latest_net_G.pth', weights_only=True)
    assert ema.keys() == plain.keys() and not torch.equal(ema['conv_img.weight'], plain['conv_img.weight'])
    test = run_script('test.py', *common, '--use_ema', '--how_many', '2', '--results_dir', str(tmp_path / 'res'))
    assert test.returncode == 0, test.stderr[-2000:]
    assert len(os.listdir(tmp_path / 'res' / 'fe' / 'test_latest_ema' / 'images' / 'synthesized_image')) == 2
    # 8 images in batches of 2: 4 updates, where a decay of 0.9 needs about 10 to forget the untrained start
    warnings = [line for line in test.stderr.splitlines() if line.startswith('warning: the average')]
    assert len(warnings) == 1 and 'has had 4 updates, fewer than its decay 0.9 needs (about 10)' in warnings[0]
    plain_test = run_script('test.py', *common, '--how_many', '2', '--results_dir', str(tmp_path / 'res'))
    assert plain_test.returncode == 0 and 'warning: the average' not in plain_test.stderr
    # the plain generator's pages beside the average's, neither replacing the other
    assert {p.name for p in (tmp_path / 'res' / 'fe').iterdir()} == {'test_latest', 'test_latest_ema'}
