"""The network registry: every registered network builds on `meta`, runs a tiny forward, saves, is rebuilt from its
description and loads strictly; and a generator registered here, in the test, trains, saves, synthesizes and resumes
through the normal commands."""
import os

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from helpers import define, run_script, train_opt
from models import networks
from models.networks import registry
from models.networks.base_network import BaseNetwork
from util.checkpoint import CheckpointStore, load_strictly
from util.util import image_size

ALL = [(kind, name) for kind, table in registry.REGISTRY.items() for name in sorted(table)]
# Options that pick each network; the others' are the tiny defaults of helpers.train_opt.
CHOICE = {'generator': '--netG', 'discriminator': '--netD'}


# Networks whose published size is large at any image size: a small one of the same architecture.
SMALL_SIZES = {'sdm': ['--num_channels', '32', '--num_res_blocks', '1', '--num_head_channels', '16',
                       '--attention_resolutions', '16,8']}


def tiny_opt(kind, name, tmp_path):
    choice = [CHOICE[kind], name, *SMALL_SIZES.get(name, [])] if kind in CHOICE else []
    return train_opt('--dataset_mode', 'coco', '--label_nc', '5', '--crop_size', '64', '--use_vae', '--z_dim', '8',
                     '--checkpoints_dir', str(tmp_path), '--name', 'r', *choice)


def define_kind(kind, opt, device=torch.device('cpu')):
    return define({'generator': 'G', 'discriminator': 'D', 'encoder': 'E'}[kind], opt, device)


@torch.no_grad()
def tiny_forward(kind, net, opt):
    """The network's output on fixed random inputs."""
    torch.manual_seed(1)
    w, h = image_size(opt.crop_size, opt.aspect_ratio)
    semantics = torch.rand(2, opt.semantic_nc, h, w)
    if kind == 'generator' and type(net).__name__ == 'SDMUNet':  # a denoiser: noisy images, timesteps, label map
        return net(torch.rand(2, 3, h, w), torch.tensor([0, 999]), semantics)
    if kind == 'generator':
        return net(semantics, z=torch.randn(2, opt.z_dim))
    if kind == 'discriminator' and type(net).__name__ == 'OASISDiscriminator':
        return net(torch.rand(2, 3, h, w))  # the image alone: segmentation logits
    if kind == 'discriminator':
        return net(torch.rand(2, 3, h, w), semantics)[1][0]
    return net(torch.rand(2, 3, h, w))[0]


@pytest.mark.parametrize('kind, name', ALL)
def test_every_registered_network_builds_runs_saves_and_is_rebuilt_from_its_description(kind, name, tmp_path):
    opt = tiny_opt(kind, name, tmp_path)
    with torch.device('meta'):
        assert define_kind(kind, opt, torch.device('meta')).num_parameters() > 0
    torch.manual_seed(0)
    net = define_kind(kind, opt)
    tiny_forward(kind, net.train(), opt)  # a training-mode pass sets batch-norm and spectral-norm statistics
    out = tiny_forward(kind, net.eval(), opt)
    assert torch.isfinite(out).all()
    store = CheckpointStore(str(tmp_path), 'r')
    store.save('latest', {'X': net.state_dict()})
    rebuilt = networks.build_network(net.description).eval()
    assert rebuilt.description == net.description
    load_strictly(rebuilt, store.network_path('latest', 'X'))
    assert torch.equal(tiny_forward(kind, rebuilt, opt), out)


def test_a_description_never_holds_runtime_arguments(tmp_path):
    opt = tiny_opt('generator', 'condconv', tmp_path)
    opt.depthconv_impl, opt.predictor_impl, opt.memory_format = 'unfold', 'reference', 'channels_last'
    opt.checkpoint_predictors = True
    net = define('G', opt)
    assert not set(networks.RUNTIME_ARGUMENTS) & set(net.description['arguments'])
    # A description written before they were left out still builds; the process chooses how it computes.
    old = {**net.description, 'arguments': {**net.description['arguments'], 'depthconv_impl': 'unfold'}}
    assert networks.build_network(old).conv_img.weight.shape == net.conv_img.weight.shape
    assert networks.build_network(old, runtime={'depthconv_impl': 'unfold'}).head_0.conv_0.impl == 'unfold'


# The README's example of a new generator: one class and one decorator (here in the test, where a user adds a file
# and its import line in models/networks/__init__.py).
class ToyGenerator(BaseNetwork):
    def __init__(self,
                 semantic_nc: int,          # label channels (+ 1 instance-edge channel)
                 ngf: int = 64,             # width
                 crop_size: int = 256,      # image width
                 aspect_ratio: float = 1.0,  # image width / height
                 output_nc: int = 3,        # image channels
                 toy_gain: float = 1.0):    # no option has this name: its default is used (and recorded)
        super().__init__()
        self.output_size = image_size(crop_size, aspect_ratio)
        self.z_dim = 0  # no style code
        self.toy_body = nn.Conv2d(semantic_nc, ngf, 3, padding=1)
        self.conv_img = nn.Conv2d(ngf, output_nc, 3, padding=1)

    def forward(self, semantics: torch.Tensor, z=None) -> torch.Tensor:
        return torch.tanh(self.conv_img(F.leaky_relu(self.toy_body(semantics), 0.2)))


@pytest.fixture
def toy_registered():
    registry.register('generator', 'toy', checkpoint_keys=r'^toy_')(ToyGenerator)
    yield
    del registry.REGISTRY['generator']['toy']


@pytest.mark.slow  # trains
def test_a_generator_registered_in_one_line_trains_saves_synthesizes_and_resumes(toy_registered, tmp_path):
    args = ['--dataset_mode', 'synthetic', '--netG', 'toy', '--name', 'toy', '--checkpoints_dir', str(tmp_path / 'ck'),
            '--ngf', '8', '--ndf', '4', '--batchSize', '2', '--max_dataset_size', '4', '--no_vgg_loss',
            '--gpu_ids', '-1', '--cpu_allocator', 'system']
    first = run_script('train.py', *args, '--niter', '1')
    assert first.returncode == 0, first.stderr
    folder = tmp_path / 'ck' / 'toy'
    assert '"class": "ToyGenerator"' in (folder / 'networks.json').read_text()
    assert '"toy_gain": 1.0' in (folder / 'networks.json').read_text()
    assert set(torch.load(folder / 'latest_net_G.pth', weights_only=True)) == {
        'toy_body.weight', 'toy_body.bias', 'conv_img.weight', 'conv_img.bias'}
    label = tmp_path / 'map.png'
    Image.fromarray((np.indices((64, 64)).sum(0) // 16 % 12).astype(np.uint8)).save(label)
    made = run_script(os.path.join('scripts', 'synthesize.py'), '--name', 'toy', '--checkpoints_dir',
                      str(tmp_path / 'ck'), '--labels', str(label), '--out', str(tmp_path / 'out'), '--gpu_ids', '-1')
    assert made.returncode == 0, made.stderr
    assert Image.open(tmp_path / 'out' / 'map.png').size == (64, 64)
    resumed = run_script('train.py', *args, '--niter', '2', '--continue_train')
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(folder / 'latest_train_state.pth', weights_only=True)['position']['epoch'] == 3
    # A SPADE checkpoint loaded into it is named as such.
    from models.networks import registry as reg
    assert any('--netG spade' in hint for _, hint in reg.checkpoint_hints(ToyGenerator))


def test_a_dataset_registered_by_name_is_a_dataset_mode():
    """A dataset registers beside its class; --dataset_mode offers it and create_dataset builds it."""
    import data
    from data.registry import DATASETS, register_dataset
    from options.data_settings import data_settings
    from data.synthetic_dataset import SyntheticDataset

    @register_dataset('tiny_synthetic')
    class TinySynthetic(SyntheticDataset):
        pass

    try:
        assert data.dataset_names()[-1] == 'tiny_synthetic'
        opt = train_opt('--dataset_mode', 'tiny_synthetic', '--max_dataset_size', '3')
        dataset = data.create_dataset(data_settings(opt))
        assert isinstance(dataset, TinySynthetic) and len(dataset) == 3
        with pytest.raises(ValueError, match='registered twice'):
            register_dataset('tiny_synthetic')(TinySynthetic)
    finally:
        DATASETS.pop('tiny_synthetic')


def test_a_reference_style_dataset_written_for_opt_reads_the_data_settings(tmp_path):
    """A dataset as SPADE's users write them (get_paths(opt) reading opt.dataroot, opt.phase and an option of its
    own) is served DataSettings and reads them unchanged; a name that is neither a field nor its option is an
    AttributeError that says where names come from."""
    import data
    from data.image_folder import make_dataset
    from data.pix2pix_dataset import Pix2pixDataset
    from data.registry import DATASETS, register_dataset
    from dataset_writers import write_custom
    from options.data_settings import data_settings

    @register_dataset('my_scenes')
    class MyScenes(Pix2pixDataset):
        @staticmethod
        def modify_commandline_options(parser, is_train):
            parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
            parser.set_defaults(label_nc=13, no_instance=True, preprocess_mode='fixed', crop_size=32)
            parser.add_argument('--photo_folder', type=str, default='photos')
            return parser

        def get_paths(self, opt):
            assert opt.phase == 'train'
            return (make_dataset(os.path.join(opt.dataroot, 'labels')),
                    make_dataset(os.path.join(opt.dataroot, opt.photo_folder)), [])

    try:
        write_custom(str(tmp_path), count=3)
        opt = train_opt('--dataset_mode', 'my_scenes', '--dataroot', str(tmp_path))
        settings = data_settings(opt)
        assert settings.own == {'no_pairing_check': False, 'photo_folder': 'photos'}
        dataset = data.create_dataset(settings)
        assert len(dataset) == 3 and dataset[0]['label'].shape == (1, 32, 32)
        assert dataset.opt.photo_folder == 'photos'  # self.opt, as the reference's datasets read it
        with pytest.raises(AttributeError, match="no 'gpu_ids'.*modify_commandline_options"):
            settings.gpu_ids
    finally:
        DATASETS.pop('my_scenes')


def test_a_constructor_argument_that_no_option_sets_needs_a_default():
    from models.from_options import network_arguments
    from util.errors import UserError

    class NeedsAnArgument(ToyGenerator):
        def __init__(self, semantic_nc: int, toy_depth: int):
            super().__init__(semantic_nc)

    opt = train_opt('--dataset_mode', 'synthetic')
    assert network_arguments(ToyGenerator, opt)['toy_gain'] == 1.0
    with pytest.raises(UserError, match='NeedsAnArgument needs the argument toy_depth, which no option sets'):
        network_arguments(NeedsAnArgument, opt)


def test_a_network_built_in_python_records_its_arguments():
    """As diffusers' register_to_config: the constructor's arguments (defaults included, runtime ones left out)
    are the network's description, so that it can be saved and built again."""
    net = ToyGenerator(13, ngf=8)
    assert net.description == {'class': 'ToyGenerator', 'arguments': {
        'semantic_nc': 13, 'ngf': 8, 'crop_size': 256, 'aspect_ratio': 1.0, 'output_nc': 3, 'toy_gain': 1.0}}
    generator = networks.CondConvGenerator(semantic_nc=13, ngf=4, crop_size=64, depthconv_impl='unfold')
    assert 'depthconv_impl' not in generator.description['arguments']
