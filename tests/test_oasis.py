"""OASIS (train.py --model oasis): its networks in boschresearch/OASIS's checkpoint layout, its objective on values
worked by hand, its label convention, and a tiny run through every command (train, resume, test, synthesize with
seeds and a restyled class, convert, export, evaluate)."""
import json
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import (load_script, oasis_layout, random_batch, run_script, save_trained_looking_model,
                     strict_load_on_meta, train_opt)
from models.methods.oasis.networks import OASISDiscriminator, OASISGenerator
from models.methods.oasis.objective import labelmix_loss, labelmix_mask, oasis_adversarial_loss, oasis_class_weights
from models.synthesizer import Synthesizer

# The public code's parameter counts (Conv2d parameters, as its print_parameter_count gives them).
PARAMETERS = {'ade20k': (74_314_691, 22_258_904), 'cityscapes': (71_107_523, 22_251_364),
              'coco': (75_199_427, 22_260_984)}


@pytest.mark.parametrize('dataset', sorted(PARAMETERS))
def test_the_networks_have_the_public_codes_names_shapes_and_sizes(dataset):
    """The preset's generator and --model oasis's discriminator load the public code's layout strictly."""
    from models.sources import preset_file, read_spec_file
    layout = oasis_layout()[dataset]
    spec = read_spec_file(preset_file(f'oasis_{dataset}'))
    assert spec.generator.arguments['semantic_nc'] == layout['semantic_nc'] and spec.method == 'oasis'
    opt = train_opt('--model', 'oasis', '--dataset_mode', dataset, small=False)
    with torch.device('meta'):
        netG = OASISGenerator(**spec.generator.arguments)
        netD = OASISDiscriminator(opt.semantic_nc)
    assert opt.semantic_nc == layout['semantic_nc'] and (opt.netG, opt.netD,
                                                         opt.no_instance) == ('oasis', 'oasis', True)
    strict_load_on_meta(netG, layout['netG'])
    strict_load_on_meta(netD, layout['netD'])
    assert list(netG.state_dict()) == list(layout['netG']) and list(netD.state_dict()) == list(layout['netD'])
    assert (netG.num_parameters(), netD.num_parameters()) == PARAMETERS[dataset]


def test_the_public_codes_per_dataset_training_settings():
    expected = {'ade20k': (32, 200, 0.0001, 0.0004, 10.0, 0.9999), 'cityscapes': (20, 200, 0.0004, 0.0004, 5.0, 0.999),
                'coco': (32, 100, 0.0001, 0.0004, 10.0, 0.9999)}
    for dataset, values in expected.items():
        opt = train_opt('--model', 'oasis', '--dataset_mode', dataset, small=False)
        assert (opt.batchSize, opt.niter, opt.lr_g, opt.lr_d, opt.lambda_labelmix, opt.ema_decay) == values, dataset
        assert (opt.beta1, opt.beta2, opt.niter_decay, opt.z_dim, opt.add_vgg_loss) == (0.0, 0.999, 0, 64, False)
    assert train_opt('--model', 'oasis', '--dataset_mode', 'coco', '--lr_g', '0.001').lr_g == 0.001


def one_hot(ids, channels):
    ids = torch.tensor(ids).view(1, 1, *np.shape(ids))
    return torch.zeros(1, channels, *ids.shape[2:]).scatter_(1, ids, 1.0)


def test_class_weights_and_the_n_plus_1_loss_by_hand():
    # Pixels of classes 0 (unlabelled), 1, 1, 2: counts 1, 2, 1 over 4 pixels, 3 classes.
    label = one_hot([[0, 1], [1, 2]], 3)
    # The unlabelled class ignored: 2 classes present, weight = (4 pixels) / (2 * count): 1 for class 1, 2 for class 2.
    assert oasis_class_weights(label, ignore_first=True).tolist() == [[[0.0, 1.0], [1.0, 2.0]]]
    # Counted: 3 present, weight = 4 / (3 * count).
    assert torch.allclose(oasis_class_weights(label, ignore_first=False),
                          torch.tensor([[[4 / 3, 2 / 3], [2 / 3, 4 / 3]]]))
    # Logits: "fake" (channel 0) at 1, every class at 0. As real, each pixel's target is its class + 1, whose
    # cross-entropy is log(e + 3); the weighted mean is log(e + 3) * (0 + 1 + 1 + 2) / 4.
    logits = torch.zeros(1, 4, 2, 2)
    logits[:, 0] = 1.0
    assert oasis_adversarial_loss(logits, label, True, True).item() == pytest.approx(math.log(math.e + 3))
    # As fake, every pixel's target is channel 0: log(e + 3) - 1, unweighted (unlabelled pixels count too).
    assert oasis_adversarial_loss(logits, label, False, True).item() == pytest.approx(math.log(math.e + 3) - 1)


def test_labelmix_mask_draws_one_bit_per_class_with_the_public_codes_quirk():
    """One torch.randint bit per class present, in class order; classes are relabelled in place one after another,
    so class-0 pixels set to 1 take class 1's bit (the public code's behaviour, kept for equal numbers)."""
    label = one_hot([[0, 0, 1, 2]], 3)
    for seed in range(40):
        torch.manual_seed(seed)
        bits = [int(torch.randint(0, 2, (1,))) for _ in range(3)]
        torch.manual_seed(seed)
        mask = labelmix_mask(label)[0, 0, 0].tolist()
        after_class_0 = [bits[0]] * 2 + [1, 2]
        after_class_1 = [bits[1] if v == 1 else v for v in after_class_0]
        expected = [bits[2] if v == 2 else v for v in after_class_1]
        assert mask == expected, seed
    mixed, real, fake = torch.zeros(1, 2, 1, 4), torch.ones(1, 2, 1, 4), torch.full((1, 2, 1, 4), 3.0)
    mask = torch.tensor([[[[1.0, 0.0, 1.0, 0.0]]]])
    # target: 1 where the mask is 1, 3 elsewhere; the mixed logits 0: mean of (1, 9, 1, 9)
    assert labelmix_loss(mask, mixed, fake, real).item() == pytest.approx(5.0)


def test_oasis_label_order_puts_the_unlabelled_channel_first():
    """COCO-Stuff's don't-care (255, our channel 182) becomes OASIS's channel 0 and class c its c + 1; ADE20K's
    "other" and Cityscapes' "unlabeled" are channel 0 already."""
    from models.inputs import model_input
    from models.sources import preset_file, read_spec_file
    coco = read_spec_file(preset_file('oasis_coco'))
    label = torch.tensor([[[[0, 5], [181, 182]]]])
    semantics = model_input(coco, label)
    assert semantics.shape == (1, 183, 2, 2) and semantics.argmax(1).tolist() == [[[1, 6], [182, 0]]]
    for dataset in ('ade20k', 'cityscapes'):
        spec = read_spec_file(preset_file(f'oasis_{dataset}'))
        assert model_input(spec, label.clamp(max=30)).argmax(1).tolist() == [[[0, 5], [30, 30]]]


def test_the_noise_code_once_per_image_per_pixel_or_drawn_as_the_public_code_draws_it():
    torch.manual_seed(0)
    net = OASISGenerator(5, ngf=2, crop_size=64).eval()
    semantics = one_hot(np.kron(np.array([[0, 1], [2, 3]]), np.ones((32, 32), dtype=int)), 5)
    torch.manual_seed(7)
    drawn = net(semantics)
    torch.manual_seed(7)
    z = torch.randn(1, 64)
    assert torch.equal(net(semantics, z), drawn)
    assert torch.equal(net(semantics, z[:, :, None, None].expand(-1, -1, 64, 64)), drawn)


def toy_synthesizer(tmp_path):
    from models.spec import ModelInputs, ModelSpec
    torch.manual_seed(0)
    net = OASISGenerator(12, ngf=4, crop_size=64, param_free_norm='batch')
    with torch.no_grad():
        net(torch.rand(2, 12, 64, 64))  # batch statistics of its own
    spec = ModelSpec.describe(ModelInputs('synthetic', 12, False, True, label_order='unlabeled_first'),
                              method='oasis', G=net.eval())
    assert spec.noise and spec.code_dim == 64
    return Synthesizer(net, None, spec)


def test_restyling_a_class_changes_its_region_most(tmp_path):
    """The sky (left half) takes a new seed's noise, the ground keeps the base seed's: the sky changes most. The
    ground moves too: the generator starts from an 8x8 map and its convolutions reach across the whole image, so
    "unchanged" is relative (README: measured on a trained model)."""
    synthesizer = toy_synthesizer(tmp_path)
    label = torch.zeros(1, 1, 64, 64, dtype=torch.long)
    label[..., 32:] = 1
    base, other = synthesizer.styles_from_seeds([0]), synthesizer.styles_from_seeds([1])
    semantics = synthesizer.semantics(label)
    before = synthesizer.generate(semantics, base)
    after = synthesizer.generate(semantics, synthesizer.region_codes(label, base, other, [0]))
    change = (before - after).abs().amax(dim=1)[0]
    assert change[:, :32].mean() > 1.3 * change[:, 32:].mean() and change[:, :32].mean() > 0.05
    with pytest.raises(Exception, match='restyling a class needs'):
        Synthesizer(synthesizer.netG, None, synthesizer.spec.__class__(**{**vars(synthesizer.spec), 'noise': False})
                    ).region_codes(label, base, other, [0])


# --- Through the commands --------------------------------------------------------------------------------------------

TINY = ['--model', 'oasis', '--dataset_mode', 'synthetic', '--ngf', '4', '--ndf', '4', '--batchSize', '2',
        '--max_dataset_size', '4', '--gpu_ids', '-1', '--cpu_allocator', 'system', '--param_free_norm', 'batch',
        '--print_freq', '2', '--display_freq', '4', '--save_epoch_freq', '1']


def labels_folder(tmp_path):
    maps = tmp_path / 'maps'
    maps.mkdir()
    Image.fromarray((np.indices((64, 64)).sum(0) // 16 % 12).astype(np.uint8)).save(maps / 'a.png')
    return maps


@pytest.mark.slow(seconds=40)
def test_a_tiny_oasis_trains_resumes_exactly_and_serves_every_command(tmp_path, inception_weights):
    ck = str(tmp_path / 'ck')
    # FID of the average during training (picking best_*): at print iterations, whose re-estimation it shares, so
    # the run stays bit-identical to the one below that does not score
    once = run_script('train.py', *TINY, '--name', 'once', '--checkpoints_dir', ck, '--niter', '2', '--fid_freq', '4',
                      '--fid_dims', '64', '--fid_num_images', '4', '--inception_weights', inception_weights)
    assert once.returncode == 0, once.stderr[-3000:]
    assert os.path.isfile(os.path.join(ck, 'once', 'best_net_G_ema.pth'))
    assert len(open(os.path.join(ck, 'once', 'validation_log.txt')).read().splitlines()) == 2
    first = run_script('train.py', *TINY, '--name', 'twice', '--checkpoints_dir', ck, '--niter', '1')
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_script('train.py', *TINY, '--name', 'twice', '--checkpoints_dir', ck, '--niter', '2',
                         '--continue_train')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for label in ('G', 'D', 'G_ema'):
        a = torch.load(os.path.join(ck, 'once', f'latest_net_{label}.pth'), weights_only=True)
        b = torch.load(os.path.join(ck, 'twice', f'latest_net_{label}.pth'), weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), label  # bit-identical
    spec = json.loads(open(os.path.join(ck, 'once', 'networks.json')).read())
    assert spec['method'] == 'oasis' and spec['inputs']['label_order'] == 'unlabeled_first' and spec['style']['noise']
    assert 'G_adv' in open(os.path.join(ck, 'once', 'loss_log.txt')).read()
    run = os.path.join(ck, 'once')
    maps = labels_folder(tmp_path)
    made = run_script('scripts/synthesize.py', '--model', run, '--use_ema', '--labels', str(maps), '--seeds', '3-4',
                      '--out', str(tmp_path / 'out'), '--gpu_ids', '-1')
    assert made.returncode == 0, made.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / 'out')) == ['a_seed3.png', 'a_seed4.png', 'index.html', 'labels',
                                                    'manifest.json']
    assert not np.array_equal(*(np.array(Image.open(tmp_path / 'out' / f'a_seed{s}.png')) for s in (3, 4)))
    restyled = run_script('scripts/synthesize.py', '--model', run, '--use_ema', '--labels', str(maps), '--seeds', '3',
                          '--restyle', 'sky', '--base_seed', '4', '--out', str(tmp_path / 'restyled'), '--gpu_ids',
                          '-1')
    assert restyled.returncode == 0, restyled.stderr[-2000:]
    tested = run_script('test.py', '--model', run, '--use_ema', '--results_dir', str(tmp_path / 'results'),
                        '--how_many', '2',
                        '--gpu_ids', '-1')
    assert tested.returncode == 0, tested.stderr[-2000:]
    converted = run_script('scripts/convert_checkpoint.py', '--name', 'once', '--checkpoints_dir', ck, '--use_ema',
                           '--out', str(tmp_path / 'folder'))
    assert converted.returncode == 0, converted.stderr[-2000:]
    assert json.loads((tmp_path / 'folder' / 'config.json').read_text())['method'] == 'oasis'
    again = run_script('scripts/synthesize.py', '--model', str(tmp_path / 'folder'), '--labels', str(maps), '--seeds',
                       '3-4', '--out', str(tmp_path / 'again'), '--gpu_ids', '-1')
    assert again.returncode == 0, again.stderr[-2000:]
    for name in ('a_seed3.png', 'a_seed4.png'):  # the converted folder gives the run's images, byte for byte
        assert (tmp_path / 'again' / name).read_bytes() == (tmp_path / 'out' / name).read_bytes()
    exported = run_script('scripts/export.py', '--model', str(tmp_path / 'folder'), '--out', str(tmp_path / 'onnx'))
    assert exported.returncode == 0, exported.stderr[-2000:]
    from models.exported import OnnxRuntimeNetwork
    assert OnnxRuntimeNetwork(str(tmp_path / 'onnx' / 'generator.onnx'),
                              torch.device('cpu')).inputs == ['semantics', 'z']


def test_bad_combinations_are_one_line(tmp_path):
    for args, says in ((['--use_vae'], 'has no style encoder'), (['--netD', 'fpse'], '--netD fpse does not train with'),
                       (['--niter_decay', '5'], 'stay constant')):
        result = run_script('train.py', *TINY, '--name', 'bad', '--checkpoints_dir', str(tmp_path), '--niter', '1',
                            *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and says in lines[0], (args, result.stderr[-500:])
    result = run_script('train.py', '--dataset_mode', 'synthetic', '--netD', 'oasis', '--checkpoints_dir',
                        str(tmp_path),
                        '--gpu_ids', '-1')
    assert result.returncode == 1 and '--netD oasis does not train with --model pix2pix' in result.stderr
    save_trained_looking_model(str(tmp_path / 'ck'), 'ccfpse', ['--dataset_mode', 'synthetic'])
    os.makedirs(tmp_path / 'released' / 'models')
    os.replace(tmp_path / 'ck' / 'ccfpse' / 'latest_net_G.pth', tmp_path / 'released' / 'models' / 'best_EMA.pth')
    result = run_script('scripts/synthesize.py', '--preset', 'oasis_ade20k', '--name', 'released', '--checkpoints_dir',
                        str(tmp_path), '--which_epoch', 'best', '--labels', str(labels_folder(tmp_path)), '--gpu_ids',
                        '-1')
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and 'best_EMA.pth was built with other options' in lines[0]


def test_the_oasis_batch_through_the_trainer_matches_the_objective(tmp_path):
    """One G and one D step of OASISModel: the losses are the objective's functions of the networks' outputs."""
    from models.from_options import build_model
    opt = train_opt(*TINY, '--checkpoints_dir', str(tmp_path), '--name', 'x')
    torch.manual_seed(0)
    model = build_model(opt)
    model.netD.eval()  # its spectral norm then keeps its vectors: a second pass gives the same logits
    batch = random_batch(opt)
    torch.manual_seed(1)
    g_losses, fake = model(batch, mode='generator')
    semantics, real = model.preprocess_input(batch)
    # synthetic data has no unlabelled class: every class counts
    assert torch.equal(g_losses['G_adv'], oasis_adversarial_loss(model.netD(fake), semantics, True, False))
    assert set(model(batch, mode='discriminator')) == {'D_fake', 'D_real', 'LabelMix'}


@pytest.mark.slow(seconds=25)
def test_an_oasis_model_is_scored_as_the_paper_did_through_evaluate_all(tmp_path, capsys, monkeypatch,
                                                                        inception_weights):
    """`evaluate.py all --model` synthesizes the validation split with an OASIS model (COCO-Stuff's classes, its
    don't-care first where the networks are fed) and scores it with the dataset's segmenter and FID."""
    from segmenter_files import write_published_files
    from test_evaluate_protocol import run_evaluate, write_case
    root, _ = write_case(tmp_path, 'coco')
    save_trained_looking_model(str(tmp_path / 'ck'), 'coco_oasis', ['--model', 'oasis', '--dataset_mode', 'coco',
                                                                   '--crop_size', '64', '--param_free_norm', 'batch'])
    weights = write_published_files('deeplabv2_cocostuff', str(tmp_path / 'weights'), 7)
    from options.test_options import TestOptions
    parses = []
    parse = TestOptions.parse
    monkeypatch.setattr(TestOptions, 'parse',
                        lambda self, *args, **kwargs: parses.append(1) or parse(self, *args, **kwargs))
    code, out, err = run_evaluate(capsys, monkeypatch, 'all', '--dataset_mode', 'coco', '--dataroot', root,
                                  '--segmenter_weights', weights, '--inception_weights', inception_weights, '--gpu_ids',
                                  '-1', '--stats_cache', '', '--dims', '64', '--model',
                                  str(tmp_path / 'ck' / 'coco_oasis'),
                                  '--results_dir', str(tmp_path / 'results'))
    assert code == 0, err
    assert len(parses) == 1  # the options are parsed once, for synthesis and for pairing the label maps
    metrics = json.loads((tmp_path / 'results' / 'coco_oasis' / 'test_latest' / 'metrics.json').read_text())
    assert metrics['protocol']['image_count'] == 3 and math.isfinite(metrics['fid'])
    assert [line.split()[0] for line in out.strip().splitlines()[-3:]] == ['fid', 'miou', 'accuracy']


def test_the_demos_new_style_for_one_class(tmp_path):
    """The demo's "New style for this class": the chosen class takes a new seed's noise, the rest keeps the seed's,
    as synthesize.py --restyle CLASS --seeds NEW --base_seed SEED makes it."""
    demo_script = load_script('demo')
    synthesizer = toy_synthesizer(tmp_path)
    demo = demo_script.Demo(synthesizer, '--model toy')
    channels = torch.zeros(1, 64, 64)
    channels[..., 32:] = 1
    plain = np.array(demo.synthesize_channels(channels, 4, None))
    restyled = np.array(demo.synthesize_channels(channels, 4, None, (0, 9)))
    base, new = synthesizer.styles_from_seeds([4]), synthesizer.styles_from_seeds([9])
    z = synthesizer.region_codes(channels, base, new, [0])
    from util.util import tensor2im
    expected = tensor2im(synthesizer.generate(synthesizer.semantics(channels), z)[0])
    assert np.array_equal(restyled, expected) and not np.array_equal(restyled, plain)
