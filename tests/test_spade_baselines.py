"""The paper's ablation networks: SPADE's generator and multi-scale discriminator, in every pair with CC-FPSE's."""
import os

import pytest
import torch

from helpers import (load_model, define, networks_on_meta, random_batch, run_script, save_model, small_predictors,
                     spade_layout, strict_load_on_meta,
                     train_opt)
from models.from_options import build_model
from util.checkpoint import CheckpointStore
from util.errors import UserError

PAIRS = [(g, d) for g in ('condconv', 'spade') for d in ('fpse', 'multiscale')]
SETUP = ['--dataset_mode', 'coco', '--use_vae', '--label_nc', '5', '--crop_size', '64']


@pytest.mark.parametrize('netG, netD', PAIRS)
def test_forward_shapes_of_every_pair(netG, netD):
    torch.manual_seed(0)
    opt = train_opt(*SETUP, '--netG', netG, '--netD', netD)
    model = build_model(opt)
    data = random_batch(opt)
    for train in (True, False):
        model.train(train)
        g_losses, fake = model(data, mode='generator')
        assert fake.shape == (2, 3, 64, 64)
        assert set(g_losses) == {'GAN', 'GAN_Feat', 'KLD'} and all(torch.isfinite(v) for v in g_losses.values())
        assert set(model(data, mode='discriminator')) == {'D_Fake', 'D_real'}
    semantics, images = model.preprocess_input(data)
    features, logits = model.netD(images, semantics)
    if netD == 'multiscale':  # two PatchGANs, at 64 and 32 pixels: four features (4x4 convs, padding 2) and the logits
        assert [tuple(f.shape[1:]) for f in features] == [(4, 33, 33), (8, 17, 17), (16, 9, 9), (32, 10, 10),
                                                          (4, 17, 17), (8, 9, 9), (16, 5, 5), (32, 6, 6)]
        assert [tuple(l.shape[1:]) for l in logits] == [(1, 11, 11), (1, 7, 7)]
    else:
        assert len(features) == 4 and len(logits) == 3


def test_spade_generator_layouts():
    for layout, size, blocks in (('normal', 4, 7), ('more', 2, 7), ('most', 1, 8)):
        opt = train_opt(*SETUP, '--crop_size', '128', '--netG', 'spade', '--num_upsampling_layers', layout)
        netG = define('G', opt)
        assert (netG.sw, netG.sh) == (size, size) and len(netG.schedule) == blocks
        assert netG(torch.rand(2, opt.semantic_nc, 128, 128), z=torch.randn(2, opt.z_dim)).shape == (2, 3, 128, 128)


@pytest.mark.parametrize('setup', ['coco', 'ade20k', 'cityscapes'])
def test_spades_released_layout(setup):
    layout = spade_layout()[setup]
    opt = train_opt(*layout['options'].split(), small=False)
    assert opt.num_upsampling_layers == ('more' if setup == 'cityscapes' else 'normal')
    nets = networks_on_meta(opt, 'GD')
    for label, net in nets.items():
        assert {k: list(v.shape) for k, v in net.state_dict().items()} == layout[label]
        strict_load_on_meta(net, layout[label])
    if setup == 'coco':
        assert round(nets['netG'].num_parameters() / 1e6, 1) == 97.5  # the SPADE paper's 97.5 M


def test_spade_checkpoint_with_netG_condconv_names_netG(tmp_path):
    saved = train_opt(*SETUP, '--netG', 'spade', '--checkpoints_dir', str(tmp_path), '--name', 'x')
    save_model(build_model(saved), 'latest')
    other = train_opt(*SETUP, '--netG', 'condconv', '--checkpoints_dir', str(tmp_path), '--name', 'x')
    other.continue_train = True
    with pytest.raises(UserError) as info:
        load_model(build_model(other), 'latest')
    message = str(info.value)
    assert 'latest_net_G.pth was built with other options' in message
    assert 'Options that likely differ: --netG' in message


@pytest.mark.parametrize('netG, netD', [('spade', 'multiscale'), ('condconv', 'multiscale'), ('spade', 'fpse')])
def test_gradients_reach_every_parameter_spade_trains(netG, netD):
    torch.manual_seed(0)
    opt = train_opt(*SETUP, '--netG', netG, '--netD', netD)
    model = build_model(opt)
    data = random_batch(opt)
    sum(model(data, mode='generator')[0].values()).backward()
    if netG == 'spade':
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.netG.parameters())
    model.netD.zero_grad(set_to_none=True)
    sum(model(data, mode='discriminator').values()).backward()
    if netD == 'multiscale':
        for name, param in model.netD.named_parameters():
            assert param.grad is not None and (name.endswith('bias') or param.grad.abs().sum() > 0), name


def test_feature_matching_averages_over_the_discriminators_scales():
    """Hand-made features: two scales of two features each; |fake - real| = 1, 2 | 3, 4 -> (1 + 2 + 3 + 4) * 10 / 2."""
    opt = train_opt(*SETUP, '--netD', 'multiscale', '--lambda_feat', '10')
    model = build_model(opt)

    class HandMade(torch.nn.Module):
        feature_matching_scales = 2

        def forward(self, images, segmap):
            n = images.size(0) // 2
            features = [torch.cat([torch.zeros(n, 1), torch.full((n, 1), float(k))]) for k in (1, 2, 3, 4)]
            return features, [torch.zeros(2 * n, 1)]
    model.netD = HandMade()
    losses, _ = model(random_batch(opt), mode='generator')
    assert losses['GAN_Feat'].item() == pytest.approx(50.0)


@pytest.mark.slow
def test_a_networks_options_are_rejected_with_another_network():
    for args, option, owner in ((['--netD', 'fpse', '--num_D', '3'], '--num_D', '--netD multiscale'),
                                (['--netD', 'fpse', '--n_layers_D', '3'], '--n_layers_D', '--netD multiscale'),
                                (['--netG', 'spade', '--depthconv_impl', 'unfold'], '--depthconv_impl',
                                 '--netG condconv')):
        result = run_script('train.py', *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and f'{option} is an option of {owner}' in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize('netG, netD', PAIRS)
def test_short_training_run_of_each_pair(netG, netD, tmp_path):
    result = run_script('train.py', '--dataset_mode', 'synthetic', '--netG', netG, '--netD', netD, '--name', 'pair',
                        '--checkpoints_dir', str(tmp_path), '--max_dataset_size', '4', '--batchSize', '2', '--niter',
                        '1',
                        '--ngf', '4', '--ndf', '4', '--crop_size', '64', '--no_vgg_loss', '--gpu_ids', '-1',
                        '--use_vae',
                        *small_predictors(['--netG', netG]))
    assert result.returncode == 0, result.stderr[-2000:]
    saved = CheckpointStore(str(tmp_path), 'pair').read_options()
    assert (saved['netG'], saved['netD']) == (netG, netD) and 'num_upsampling_layers' in saved
    if netD == 'multiscale':
        assert (saved['num_D'], saved['n_layers_D']) == (2, 4)
    result = run_script('test.py', '--name', 'pair', '--checkpoints_dir', str(tmp_path), '--results_dir',
                        str(tmp_path / 'res'), '--how_many', '1', '--gpu_ids', '-1')
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.listdir(tmp_path / 'res' / 'pair' / 'test_latest' / 'images' / 'synthesized_image') == ['00000.png']
