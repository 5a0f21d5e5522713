"""The networks: released parameter layout, forward shapes, gradients, strict loading, readable mismatches."""
import os

import pytest
import torch

from helpers import (load_model, define, networks_on_meta, random_batch, released_layout, save_model,
                     strict_load_on_meta, train_opt)
from models.inputs import instance_edges
from models.from_options import build_model
from models.synthesizer import Synthesizer
from util.checkpoint import CheckpointStore, load_strictly
from util.errors import UserError

SETUPS = ['coco', 'ade20k', 'cityscapes']


@pytest.fixture(scope='module', params=SETUPS)
def released(request):
    cfg = released_layout()[request.param]
    opt = train_opt(*cfg['options'].split(), small=False)
    return request.param, cfg, opt, networks_on_meta(opt)


def test_parameter_names_and_shapes_match_released_checkpoints(released):
    name, cfg, _, nets = released
    for label, net in nets.items():
        got = {k: list(v.shape) for k, v in net.state_dict().items()}
        assert got == cfg[label], f'{name} {label}'
        strict_load_on_meta(net, cfg[label])


def test_parameter_counts_match_paper_facts(released):
    name, _, _, nets = released
    assert round(nets['netG'].num_parameters() / 1e6, 1) == {'coco': 141.9, 'ade20k': 140.7, 'cityscapes': 128.1}[name]


def test_strict_load_of_a_random_state_dict(tmp_path):
    """The loading path itself (a file, shapes checked, values copied), at a small width."""
    opt = train_opt('--dataset_mode', 'coco', '--use_vae', '--label_nc', '5', '--crop_size', '64',
                    '--checkpoints_dir', str(tmp_path), '--name', 'x')
    os.makedirs(tmp_path / 'x')
    for label in 'GDE':
        net = define(label, opt)
        state = {k: torch.randn(v.shape) if v.dim() else torch.tensor(3) for k, v in net.state_dict().items()}
        torch.save(state, tmp_path / 'x' / f'latest_net_{label}.pth')
        load_strictly(net, CheckpointStore(opt.checkpoints_dir, opt.name).network_path('latest', label))
        for k, v in net.state_dict().items():
            assert torch.equal(v, state[k].to(v.dtype)), k


SMALL_SETUPS = {
    'coco_vae': ['--dataset_mode', 'coco', '--use_vae', '--label_nc', '7', '--crop_size', '64'],
    'cityscapes_vae': ['--dataset_mode', 'cityscapes', '--use_vae', '--label_nc', '5', '--crop_size', '128'],
    'ade20k': ['--dataset_mode', 'ade20k', '--label_nc', '6', '--crop_size', '64'],
}


@pytest.mark.parametrize('setup', SMALL_SETUPS)
def test_forward_shapes_for_every_mode(setup):
    torch.manual_seed(0)
    opt = train_opt(*SMALL_SETUPS[setup])
    model = build_model(opt)
    data = random_batch(opt)
    h, w = data['image'].shape[2:]
    for train in (True, False):
        model.train(train)
        g_losses, fake = model(data, mode='generator')
        assert fake.shape == (2, 3, h, w) and fake.abs().max() <= 1
        expected = {'GAN', 'GAN_Feat'} | ({'KLD'} if opt.use_vae else set())
        assert set(g_losses) == expected and all(torch.isfinite(v) for v in g_losses.values())
        assert set(model(data, mode='discriminator')) == {'D_Fake', 'D_real'}
        synthesizer = Synthesizer(model.netG, model.netE, model.spec)
        assert synthesizer.synthesize_batch(data, check_finite=False).shape == (2, 3, h, w)
        if opt.use_vae:
            mu, logvar = synthesizer.encode(data['image'])
            assert mu.shape == logvar.shape == (2, opt.z_dim)
    semantics, _ = model.preprocess_input(data)
    assert semantics.shape == (2, opt.semantic_nc, h, w)
    features, logits = model.netD(data['image'], semantics)
    assert [f.shape[2] for f in features] == [h // 4, h // 8, h // 16, h // 32]
    assert [l.shape[1:] for l in logits] == [(1, h // 4, w // 4), (1, h // 8, w // 8), (1, h // 16, w // 16)]
    with pytest.raises(ValueError, match='mode'):
        model(data, mode='sample')


def test_preprocess_one_hot_with_dontcare_and_edges():
    opt = train_opt('--dataset_mode', 'coco', '--label_nc', '3', '--crop_size', '64')
    model = build_model(opt)
    label = torch.tensor([[[[0, 1], [3, 2]]]]).float()  # 3 is don't-care (label_nc)
    instance = torch.tensor([[[[5, 5], [5, 7]]]])
    semantics, _ = model.preprocess_input({'label': label, 'instance': instance, 'image': torch.zeros(1, 3, 2, 2)})
    assert semantics.shape == (1, 5, 2, 2)
    assert semantics[0, :4].argmax(0).tolist() == [[0, 1], [3, 2]]
    assert semantics[0, :4].sum(0).eq(1).all()
    assert semantics[0, 4].tolist() == [[0, 1], [1, 1]]
    with pytest.raises(UserError, match='--label_nc'):
        model.preprocess_input({'label': label + 1, 'instance': instance, 'image': torch.zeros(1, 3, 2, 2)})


def test_instance_edge_map_on_hand_made_map():
    instance = torch.tensor([[[[1, 1, 1, 2],
                               [1, 1, 1, 2],
                               [3, 3, 1, 2],
                               [3, 3, 1, 1]]]])
    expected = torch.tensor([[[[0, 0, 1, 1],
                               [1, 1, 1, 1],
                               [1, 1, 1, 1],
                               [0, 1, 1, 1]]]]).float()
    assert torch.equal(instance_edges(instance), expected)


# The reference never applies these (built and saved only): they are the only parameters without gradients.
UNUSED = ('.norm_0.', '.conv_0.norm_layer.', '.conv_2.norm_layer.')


def test_gradients_reach_every_trained_parameter():
    torch.manual_seed(0)
    opt = train_opt(*SMALL_SETUPS['coco_vae'])
    model = build_model(opt)
    data = random_batch(opt)
    g_losses, _ = model(data, mode='generator')
    sum(g_losses.values()).backward()
    for prefix, net in (('G', model.netG), ('E', model.netE)):
        for name, param in net.named_parameters():
            unused = any(tag in f'.{name}' for tag in UNUSED)
            assert (param.grad is None) == unused, f'{prefix} {name}'
            if not unused:
                assert param.grad.abs().sum() > 0, f'{prefix} {name} has a zero gradient'
    model.netD.zero_grad(set_to_none=True)
    sum(model(data, mode='discriminator').values()).backward()
    # Biases of the logit heads get exactly opposite real/fake gradients at init, so only weights must move.
    for name, param in model.netD.named_parameters():
        assert param.grad is not None, name
        assert name.endswith('bias') or param.grad.abs().sum() > 0, name


def test_mismatching_checkpoint_gives_one_readable_message(tmp_path):
    saved = train_opt('--dataset_mode', 'coco', '--label_nc', '5', '--crop_size', '64', '--checkpoints_dir',
                      str(tmp_path), '--name', 'x')
    save_model(build_model(saved), 'latest')
    other = train_opt('--dataset_mode', 'coco', '--label_nc', '9', '--crop_size', '64', '--checkpoints_dir',
                      str(tmp_path),
                      '--name', 'x', '--continue_train')
    with pytest.raises(UserError) as info:
        load_model(build_model(other), 'latest')
    message = str(info.value)
    assert '\n' not in message and len(message) < 1200
    assert 'latest_net_G.pth' in message and 'labelenc1.0.0.weight_orig' in message and '--label_nc' in message
    vae = train_opt('--dataset_mode', 'coco', '--label_nc', '5', '--crop_size', '64', '--checkpoints_dir',
                    str(tmp_path),
                    '--name', 'x', '--continue_train', '--use_vae')
    with pytest.raises(UserError, match='--use_vae'):
        load_model(build_model(vae), 'latest')
