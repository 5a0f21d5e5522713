"""Loss values on hand-computed inputs, and where the VGG weights come from."""
import math

import pytest
import torch
import torchvision

from models.networks.architecture import VGG19
from models.networks.loss import GANLoss, KLDLoss, VGGLoss
from util.errors import UserError

LOGITS = torch.tensor([[-2.0, -0.5], [0.5, 3.0]])


def test_hinge_loss_values():
    loss = GANLoss('hinge')
    # D on real: mean(relu(1 - x)) = (3 + 1.5 + 0.5 + 0) / 4
    assert loss(LOGITS, True, for_discriminator=True).item() == pytest.approx(1.25)
    # D on fake: mean(relu(1 + x)) = (0 + 0.5 + 1.5 + 4) / 4
    assert loss(LOGITS, False, for_discriminator=True).item() == pytest.approx(1.5)
    # G: -mean(x)
    assert loss(LOGITS, True, for_discriminator=False).item() == pytest.approx(-0.25)
    with pytest.raises(ValueError):
        loss(LOGITS, False, for_discriminator=False)


def test_least_squares_cross_entropy_and_wasserstein_values():
    assert GANLoss('ls')(LOGITS, True).item() == pytest.approx((9 + 2.25 + 0.25 + 4) / 4)
    assert GANLoss('ls')(LOGITS, False).item() == pytest.approx((4 + 0.25 + 0.25 + 9) / 4)
    softplus = lambda x: math.log1p(math.exp(x))
    assert GANLoss('original')(LOGITS,
                               True).item() == pytest.approx(sum(softplus(-x) for x in LOGITS.flatten().tolist()) / 4)
    assert GANLoss('original')(LOGITS,
                               False).item() == pytest.approx(sum(softplus(x) for x in LOGITS.flatten().tolist()) / 4)
    assert GANLoss('w')(LOGITS, True).item() == pytest.approx(-0.25)
    assert GANLoss('w')(LOGITS, False).item() == pytest.approx(0.25)


def test_multiscale_loss_is_mean_over_scales():
    scales = [LOGITS, torch.full((1, 1, 2, 2), 2.0)]
    assert GANLoss('hinge')(scales, True).item() == pytest.approx((1.25 + 0.0) / 2)
    with pytest.raises(ValueError, match='gan_mode'):
        GANLoss('wgan-gp')


def test_kld_value():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]])
    expected = -0.5 * ((1 + 0 - 1 - 1) + (1 + math.log(2.0) - 0 - 2))
    assert KLDLoss()(mu, logvar).item() == pytest.approx(expected)


@pytest.mark.slow
def test_vgg_loss_from_a_local_weights_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'vgg19.pth'
    torch.save(torchvision.models.vgg19().state_dict(), path)
    loss = VGGLoss(str(path))
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == 0
    value = loss(x, y)
    assert value.item() > 0
    assert not any(p.requires_grad for p in loss.parameters())
    assert len(VGG19(str(path))(x)) == 5


@pytest.mark.slow
@pytest.mark.parametrize('zip_format', [True, False])
def test_vgg_features_get_the_files_weights(tmp_path, zip_format):
    torch.manual_seed(0)
    state = torchvision.models.vgg19().state_dict()
    path = tmp_path / 'vgg19.pth'
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)  # torchvision's own file is the old format
    vgg = VGG19(str(path))
    layers = [layer for index in range(1, 6) for layer in getattr(vgg, f'slice{index}')]
    assert len(layers) == 30  # up to relu5_1
    for index, layer in enumerate(layers):
        if isinstance(layer, torch.nn.Conv2d):
            assert torch.equal(layer.weight, state[f'features.{index}.weight'])
            assert torch.equal(layer.bias, state[f'features.{index}.bias'])


def test_vgg_weights_missing_offline_is_one_clear_line(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError('network is unreachable')
    monkeypatch.setattr(torchvision.models._api, 'load_state_dict_from_url', offline)
    with pytest.raises(UserError) as info:
        VGG19()
    assert '--vgg_weights' in str(info.value) and '--no_vgg_loss' in str(info.value) and '\n' not in str(info.value)
    with pytest.raises(UserError, match='no such file'):
        VGG19(str(tmp_path / 'missing.pth'))
    torch.save({'not': torch.zeros(1)}, tmp_path / 'wrong.pth')
    with pytest.raises(UserError, match='not a torchvision vgg19'):
        VGG19(str(tmp_path / 'wrong.pth'))


def test_the_pix2pix_objective_is_its_formula_to_the_last_bit(tmp_path):
    """On a fixed batch, the losses of Pix2PixModel (the default --model, SPADE's and CC-FPSE's objective) equal,
    bit for bit, the reference's formulas applied to its networks' outputs: hinge GAN, feature matching averaged
    over the discriminator's scales and weighted by --lambda_feat, KL weighted by --lambda_kld; D's hinge losses."""
    from helpers import random_batch, train_opt
    from models.from_options import build_model
    from models.inputs import reparameterize
    opt = train_opt('--dataset_mode', 'coco', '--label_nc', '5', '--crop_size', '64', '--use_vae', '--z_dim', '8',
                    '--checkpoints_dir', str(tmp_path), '--name', 'x')
    torch.manual_seed(3)
    model = build_model(opt).eval()  # eval: spectral and batch norms keep their state, so passes can be repeated
    batch = random_batch(opt)
    torch.manual_seed(5)
    g_losses, fake = model(batch, mode='generator')
    torch.manual_seed(6)
    d_losses = model(batch, mode='discriminator')
    semantics, real = model.preprocess_input(batch)
    torch.manual_seed(5)
    mu, logvar = model.netE(real)
    expected_fake = model.netG(semantics, z=reparameterize(mu, logvar))
    assert torch.equal(fake, expected_fake)
    features, logits = model.netD(torch.cat([fake, real]), torch.cat([semantics, semantics]))
    hinge = GANLoss('hinge')
    fake_logits = [l.chunk(2)[0] for l in logits]
    matching = sum(torch.nn.functional.l1_loss(f.chunk(2)[0], f.chunk(2)[1]) * 10.0 / len(features) for f in features)
    expected = {'KLD': KLDLoss()(mu, logvar) * 0.05, 'GAN_Feat': matching,
                'GAN': hinge(fake_logits, True, for_discriminator=False)}
    assert g_losses.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(g_losses[name], value), name
    torch.manual_seed(6)  # the D step makes its own fake images, with a style sampled anew
    with torch.no_grad():
        fake = model.netG(semantics, z=reparameterize(*model.netE(real)))
    _, logits = model.netD(torch.cat([fake, real]), torch.cat([semantics, semantics]))
    assert torch.equal(d_losses['D_Fake'], hinge([l.chunk(2)[0] for l in logits], False))
    assert torch.equal(d_losses['D_real'], hinge([l.chunk(2)[1] for l in logits], True))
