"""Option names, defaults and per-dataset defaults as the reference; clear errors for unknown names."""
import os
import sys

import pytest
import torch

from helpers import run_script
from options.test_options import TestOptions
from options.train_options import TrainOptions

# The reference's defaults (options/*.py of xh-liu/CC-FPSE) for a plain `python train.py`.
REFERENCE_TRAIN_DEFAULTS = {
    'name': 'CC-FPSE_coco', 'checkpoints_dir': './checkpoints', 'model': 'pix2pix', 'norm_G': 'spectralsync_batch',
    'norm_D': 'spectralinstance', 'norm_E': 'spectralinstance', 'phase': 'train', 'batchSize': 32,
    'preprocess_mode': 'resize_and_crop', 'load_size': 286, 'crop_size': 256, 'aspect_ratio': 1.0, 'label_nc': 182,
    'contain_dontcare_label': True, 'output_nc': 3, 'dataroot': './datasets/cityscapes/', 'dataset_mode': 'coco',
    'serial_batches': False, 'no_flip': False, 'nThreads': 0, 'max_dataset_size': sys.maxsize,
    'load_from_opt_file': False, 'cache_filelist_write': True, 'cache_filelist_read': True, 'display_winsize': 256,
    'netG': 'condconv', 'ngf': 64, 'init_type': 'xavier', 'init_variance': 0.02, 'z_dim': 256, 'no_instance': False,
    'nef': 16, 'use_vae': False, 'mpdist': False, 'num_servers': 1, 'idx_server': 0, 'ngpus_per_node': 8,
    'display_freq': 100, 'print_freq': 100, 'save_epoch_freq': 10, 'no_html': False, 'debug': False, 'tf_log': False,
    'continue_train': False, 'which_epoch': 'latest', 'niter': 50, 'niter_decay': 0, 'optimizer': 'adam',
    'beta1': 0.5, 'beta2': 0.999, 'lr': 0.0002, 'ndf': 64, 'lambda_feat': 10.0, 'lambda_vgg': 10.0,
    'no_ganFeat_loss': False, 'no_vgg_loss': False, 'gan_mode': 'hinge', 'netD': 'fpse', 'netD_subarch': 'n_layer',
    'no_TTUR': False, 'lambda_kld': 0.05, 'no_pairing_check': False,
}

PER_DATASET = {
    'ade20k': {'label_nc': 150, 'contain_dontcare_label': True, 'no_instance': True,
               'preprocess_mode': 'resize_and_crop', 'load_size': 286, 'crop_size': 256},
    'cityscapes': {'label_nc': 35, 'contain_dontcare_label': False, 'no_instance': False, 'preprocess_mode': 'fixed',
                   'load_size': 512, 'crop_size': 512, 'aspect_ratio': 2.0},
    'custom': {'label_nc': 13, 'contain_dontcare_label': False, 'preprocess_mode': 'resize_and_crop', 'load_size': 286,
               'crop_size': 256},
}


def test_train_defaults_equal_the_reference():
    opt = TrainOptions().parse([], quiet=True)
    for key, value in REFERENCE_TRAIN_DEFAULTS.items():
        assert getattr(opt, key) == value, key
    assert opt.semantic_nc == 184


@pytest.mark.parametrize('mode', PER_DATASET)
def test_per_dataset_defaults(mode):
    opt = TrainOptions().parse(['--dataset_mode', mode], quiet=True)
    for key, value in PER_DATASET[mode].items():
        assert getattr(opt, key) == value, (mode, key)


def test_test_defaults():
    opt = TestOptions().parse(['--dataset_mode', 'coco'], quiet=True)
    assert (opt.phase, opt.load_size, opt.crop_size, opt.serial_batches, opt.no_flip, opt.isTrain) == \
        ('test', 256, 256, True, True, False)
    assert opt.how_many == float('inf') and opt.results_dir == './results/'


def test_explicit_options_win_and_semantic_nc():
    opt = TrainOptions().parse(['--dataset_mode', 'ade20k', '--label_nc', '20', '--crop_size', '128'], quiet=True)
    assert (opt.label_nc, opt.crop_size, opt.semantic_nc) == (20, 128, 21)


def test_parse_reads_sys_argv(monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['train.py', '--name', 'from_argv', '--ngf', '8'])
    opt = TrainOptions().parse(quiet=True)
    assert (opt.name, opt.ngf) == ('from_argv', 8)


def test_parse_needs_no_dataset_on_disk(tmp_path):
    opt = TrainOptions().parse(['--dataset_mode', 'custom', '--dataroot', str(tmp_path / 'nothing')], quiet=True)
    assert opt.label_dir == '' and not (tmp_path / 'nothing').exists()


@pytest.mark.parametrize('flag,value,valid', [('--netG', 'pix2pixhd', 'condconv'), ('--netD', 'patch', 'fpse'),
                                              ('--dataset_mode', 'voc', 'cityscapes'), ('--gan_mode', 'wgan', 'hinge')])
def test_unknown_names_give_one_line_listing_valid_names(flag, value, valid):
    result = run_script('train.py', flag, value)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and value in lines[0] and valid in lines[0] and flag in lines[0]


def test_unknown_norm_is_a_clear_error():
    from models.networks.normalization import get_nonspade_norm_layer
    from util.errors import UserError
    with pytest.raises(UserError, match='--norm_G'):
        get_nonspade_norm_layer('spectralgroup')


def test_networks_take_explicit_arguments_named_as_their_options():
    """Every constructor argument is an option (or one derived from options), so the spec is made from options by
    name; and a network is built, and runs, without the option system."""
    import inspect

    from models.networks import CondConvGenerator, ConvEncoder, FPSEDiscriminator, registry
    options = set()
    from models import method_registry
    for choice in (['--netG', 'condconv', '--netD', 'multiscale'], ['--netG', 'spade', '--netD', 'fpse'],
                   *(['--model', name] for name in method_registry.names())):
        options |= set(vars(TrainOptions().parse(['--gpu_ids', '-1', *choice], quiet=True)))
    for cls in [e.cls for table in registry.REGISTRY.values() for e in table.values()]:
        arguments = [name for name in inspect.signature(cls.__init__).parameters if name != 'self']
        assert arguments and set(arguments) <= options, (cls.__name__, set(arguments) - options)
    netG = CondConvGenerator(semantic_nc=6, ngf=4, crop_size=64, use_vae=True, z_dim=8)
    netD = FPSEDiscriminator(semantic_nc=6, ndf=4)
    netE = ConvEncoder(ngf=4, crop_size=64, z_dim=8)
    semantics = torch.nn.functional.one_hot(torch.randint(0, 6, (2, 64, 64)), 6).permute(0, 3, 1, 2).float()
    images = netG(semantics, z=netE(torch.rand(2, 3, 64, 64))[0])
    assert images.shape == (2, 3, 64, 64) and len(netD(images, semantics)[1]) == 3


def test_ignored_reference_options_are_accepted_with_a_note(capsys):
    opt = TrainOptions().parse(['--nef', '32', '--mpdist', '--num_servers', '2'])
    assert (opt.nef, opt.mpdist, opt.num_servers) == (32, True, 2)
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith('note:')]
    assert [line.split()[1] for line in notes] == ['--mpdist', '--nef',
                                                   '--num_servers'] and all('ignored' in n for n in notes)


def test_architecture_options_are_declared_where_they_are_defined():
    from options.parser import OptionParser
    parser = TrainOptions().initialize(OptionParser())
    assert {'dataset_mode', 'netG', 'ngf', 'label_nc', 'use_vae', 'crop_size', 'netD', 'ndf',
            'output_nc'} <= parser.architecture_options
    assert not {'lr', 'batchSize', 'name', 'gpu_ids'} & parser.architecture_options


def test_help_lists_the_networks_and_datasets_options():
    result = run_script('train.py', '--dataset_mode', 'custom', '--help')
    assert result.returncode == 0
    for flag in ('--depthconv_impl', '--amp', '--label_dir', '--lambda_feat', '--nef'):
        assert flag in result.stdout, flag


def test_no_gpu_is_said_in_one_line(monkeypatch, capsys):
    import util.device
    from models.from_options import build_model
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(util.device, '_announced', False)
    opt = TrainOptions().parse(['--ngf', '4', '--ndf', '4', '--crop_size', '64', '--label_nc', '3', '--no_vgg_loss',
                                '--gpu_ids', '0'], quiet=True)
    model = build_model(opt)
    assert model.device.type == 'cpu'
    assert 'note: no GPU found, running on the CPU' in capsys.readouterr().out
    build_model(opt)
    assert 'no GPU' not in capsys.readouterr().out  # once a process


def test_a_preset_stands_for_the_released_architecture_and_the_scripts_use_one():
    """A preset is a spec file (models/methods/<method>/presets/<name>.json) read like any config.json; its inputs
    are the test options' defaults, and an architecture option that contradicts it is one line."""
    import re
    from helpers import ROOT
    from models.sources import preset_names
    from util.errors import UserError
    options = TestOptions()
    opt = options.parse(['--preset', 'ade20k', '--batchSize', '4'], quiet=True)
    assert (opt.dataset_mode, opt.netG, opt.use_vae, opt.label_nc, opt.preset, opt.batchSize) == \
        ('ade20k', 'condconv', True, 150, 'ade20k', 4)
    assert options.model.spec_file.endswith(os.path.join('models', 'methods', 'pix2pix', 'presets', 'ade20k.json'))
    assert options.model.spec.generator.arguments['semantic_nc'] == 151
    spade = TestOptions()
    spade.parse(['--preset', 'spade_cityscapes'], quiet=True)
    assert spade.model.spec.generator.arguments['num_upsampling_layers'] == 'more'
    with pytest.raises(UserError, match='label_nc 10 .trained with 182'):
        TestOptions().parse(['--preset', 'coco', '--label_nc', '10'], quiet=True)
    with pytest.raises(UserError, match='--ngf: the architecture of .* comes from .*coco.json'):
        TestOptions().parse(['--preset', 'coco', '--ngf', '32'], quiet=True)
    for script, preset in (('test_coco.sh', 'coco'), ('test_ade.sh', 'ade20k'), ('test_cityscapes.sh', 'cityscapes')):
        with open(f'{ROOT}/scripts/{script}') as f:
            text = f.read()
        assert f'--preset {preset} ' in text and not re.search(r'--(dataset_mode|netG|use_vae)\b', text), script
    assert preset_names() == ['ade20k', 'cityscapes', 'coco', 'oasis_ade20k', 'oasis_cityscapes', 'oasis_coco',
                              'sdm_ade20k', 'sdm_celeba', 'spade_ade20k', 'spade_cityscapes', 'spade_coco']


def test_unknown_preset_and_phase_are_one_line_errors(tmp_path):
    result = run_script('test.py', '--preset', 'imagenet', '--gpu_ids', '-1')
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "argument --preset: invalid choice: 'imagenet'" in lines[-1]
    from dataset_writers import write_coco
    write_coco(str(tmp_path / 'coco'), 'train', count=2)
    result = run_script('train.py', '--dataset_mode', 'coco', '--dataroot', str(tmp_path / 'coco'), '--phase', 'trian',
                        '--checkpoints_dir', str(tmp_path / 'ck'), '--gpu_ids', '-1')
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and lines == ['error: --phase trian: use train, val or test']
    assert not (tmp_path / 'ck' / 'CC-FPSE_coco').exists()  # no run folder


@pytest.mark.parametrize('option, value',
                         [('--predictor_nc', '0'), ('--ngf', '-4'), ('--ndf', 'wide'), ('--z_dim', '0')])
def test_widths_must_be_positive_whole_numbers(option, value, tmp_path):
    result = run_script('train.py', option, value, '--checkpoints_dir', str(tmp_path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: argument {option}: '{value}' is not a whole number from 1 to ")
    assert os.listdir(tmp_path) == []
