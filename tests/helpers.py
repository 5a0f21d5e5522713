"""What the tests share: the repository root, small options, checkpoint layouts, random batches and run folders."""
import json
import os

import torch

from options.test_options import TestOptions
from options.train_options import TrainOptions
from util.util import image_size

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMALL = ['--ngf', '4', '--ndf', '4', '--gpu_ids', '-1', '--no_vgg_loss']


def train_opt(*args: str, small: bool = True):
    return TrainOptions().parse(list(args) + (SMALL if small else ['--gpu_ids', '-1']), quiet=True)


def make_test_opt(*args: str):
    return TestOptions().parse(list(args) + ['--gpu_ids', '-1'], quiet=True)


def released_layout() -> dict:
    """{set-up: {'options': ..., 'netG'/'netD'/'netE': {name: shape}}} of the authors' released checkpoints:
    parameter and buffer names with shapes, facts written down from their files."""
    with open(os.path.join(ROOT, 'tests', 'fixtures', 'released_checkpoint_layout.json')) as f:
        return json.load(f)['configs']


def spade_layout() -> dict:
    """The same for NVlabs/SPADE's networks (its released set-ups, --netG spade --netD multiscale), written
    down from SPADE's model code."""
    with open(os.path.join(ROOT, 'tests', 'fixtures', 'spade_checkpoint_layout.json')) as f:
        return json.load(f)['configs']


def random_state(layout: dict) -> dict:
    """Random tensors of a layout's names and shapes; positive, so that spectral norm's stored vectors give a
    sigma far from zero, and unit running variances (finite images)."""
    state = {k: (torch.rand(shape) * 0.02 if shape else torch.tensor(1)) for k, shape in layout.items()}
    return {k: torch.ones_like(v) if k.endswith('running_var') else v for k, v in state.items()}


def random_batch(opt, batch_size: int = 2) -> dict:
    """A batch of random label maps, instance maps and photos at the options' size."""
    w, h = image_size(opt.crop_size, opt.aspect_ratio)
    label = torch.randint(0, opt.num_labels, (batch_size, 1, h, w)).float()
    instance = torch.randint(0, 3, (batch_size, 1, h, w))
    return {'label': label, 'instance': instance, 'image': torch.rand(batch_size, 3, h, w) * 2 - 1, 'path': ['a'] * batch_size}


def write_random_inception_weights(path: str) -> str:
    """Random weights in the layout of pytorch-fid's TF-Inception file (the real one cannot be downloaded here)."""
    from unittest import mock

    import pytorch_fid.inception as inception
    import torchvision
    torch.manual_seed(0)
    with mock.patch.object(inception, 'load_state_dict_from_url', lambda *a, **k: None), \
            mock.patch.object(torchvision.models.Inception3, 'load_state_dict', lambda self, *a, **k: None):
        net = inception.fid_inception_v3()
    # Batch-norm statistics measured on random images, so that the features are neither zero nor constant.
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
            module.reset_running_stats()
    with torch.no_grad():
        net.train()(torch.rand(4, 3, 299, 299) * 2 - 1)
    torch.save(net.state_dict(), path)
    return path


# Gain 1 (instead of 0.02) so that random weights give images with visible structure.
TRAINED_LOOKING = ['--ngf', '4', '--ndf', '4', '--no_vgg_loss', '--gpu_ids', '-1', '--init_variance', '1']


def save_trained_looking_model(checkpoints_dir: str, name: str, args) -> None:
    """A run folder as train.py leaves it (opt.json, latest_net_*.pth), with random weights whose spectral-norm
    vectors and batch-norm statistics have seen one training-mode pass (fresh ones can give non-finite images)."""
    from models.pix2pix_model import Pix2PixModel
    options = TrainOptions()
    opt = options.parse([*args, *TRAINED_LOOKING, '--checkpoints_dir', checkpoints_dir, '--name', name], quiet=True)
    options.save_options(opt)
    torch.manual_seed(0)
    model = Pix2PixModel(opt)
    with torch.no_grad():
        model(random_batch(opt), mode='generator')
    model.save('latest')
