"""What the tests share: the repository root, small options, checkpoint layouts, random batches and run folders."""
import contextlib
import io
import json
import os
import runpy
import subprocess
import sys

import torch

from options.test_options import TestOptions
from options.train_options import TrainOptions
from util.util import image_size

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(name: str):
    """scripts/<name>.py as a module (scripts are not a package), loaded anew: its functions and classes."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'{name}_script', os.path.join(ROOT, 'scripts', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

# The C library's allocator: the default policy ('retain') is process-wide, and no test should set it for the others.
SMALL = ['--ngf', '4', '--ndf', '4', '--gpu_ids', '-1', '--no_vgg_loss', '--cpu_allocator', 'system']
# CC-FPSE's predictors 16 wide instead of the paper's 128: a tiny generator's step is then several times faster.
SMALL_PREDICTORS = ['--predictor_nc', '16']


def small_predictors(args) -> list:
    """SMALL_PREDICTORS, or nothing when `args` choose another generator than CC-FPSE's (which have no such option:
    --netG spade, --model oasis) or a width."""
    from models import method_registry
    args = list(args)
    method = args[args.index('--model') + 1] if '--model' in args else method_registry.REFERENCE_METHOD
    generator = args[args.index('--netG') + 1] if '--netG' in args else \
        method_registry.method(method).default_generator
    return [] if generator != 'condconv' or '--predictor_nc' in args else SMALL_PREDICTORS


def small_options(args) -> list:
    return SMALL + small_predictors(args)


def train_opt(*args: str, small: bool = True):
    extra = small_options(args) if small else ['--gpu_ids', '-1', '--cpu_allocator', 'system']
    return TrainOptions().parse(list(args) + extra, quiet=True)


def make_test_opt(*args: str):
    return TestOptions().parse(list(args) + ['--gpu_ids', '-1'], quiet=True)


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """A script (`train.py`, `scripts/check_dataset.py`, ...) run in this process as on the command line, for the
    command-line tests that need no process of their own: its exit status, stdout and stderr."""
    out, err, argv, code = io.StringIO(), io.StringIO(), sys.argv, 0
    sys.argv = [script, *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(os.path.join(ROOT, script), run_name='__main__')
    except SystemExit as exc:
        if isinstance(exc.code, str):  # sys.exit('message'): Python prints it and exits with 1
            err.write(exc.code + '\n')
        code = 1 if isinstance(exc.code, str) else (exc.code or 0)
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


# The folders that are not the project's files (.gitignore's, and hidden ones): skipped when the tests walk the tree
# (CI's copy has no .git to ask).
NOT_SOURCE = {'__pycache__', 'checkpoints', 'results', 'datasets', 'pretrained', 'exported', 'build'}


def project_files(root: str = ROOT, suffix: str = '') -> list:
    """The repository's files below `root` (relative paths), as a clone has them."""
    found = []
    for base, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith('.') and f not in NOT_SOURCE
                            and not f.endswith('.egg-info'))
        found += [os.path.relpath(os.path.join(base, name), root) for name in sorted(files)
                  if name.endswith(suffix) and not name.endswith('.pyc')]
    return found


META = torch.device('meta')


def define(label: str, opt, device: torch.device = torch.device('cpu')):
    """Network `label` ('G', 'D', 'E') of the options on `device`, computing as they say and initialised as training
    initialises it."""
    from models.from_options import network_spec, runtime_from_options
    from models.networks import build_network
    net = build_network(network_spec(label, opt).to_json(), device, runtime=runtime_from_options(opt))
    net.init_weights(opt.init_type, opt.init_variance)
    return net


def networks_on_meta(opt, labels: str = 'GDE') -> dict:
    """{'netG': ..., ...} of the options' spec built on the meta device: names, shapes and parameter counts without
    allocating or initialising the weights of full-size networks."""
    from models.from_options import network_spec
    from models.networks import build_network
    with META:
        return {f'net{label}': build_network(network_spec(label, opt).to_json(), META) for label in labels}


def strict_load_on_meta(net: torch.nn.Module, layout: dict) -> None:
    """Load empty tensors of a layout's names and shapes strictly: raises unless they are exactly the network's."""
    net.load_state_dict({k: torch.empty(shape, device=META) for k, shape in layout.items()}, strict=True, assign=True)


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


def oasis_layout() -> dict:
    """The same for boschresearch/OASIS's generator and discriminator (its three datasets' set-ups), written down
    from its model code."""
    with open(os.path.join(ROOT, 'tests', 'fixtures', 'oasis_checkpoint_layout.json')) as f:
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
    return {'label': label, 'instance': instance, 'image': torch.rand(batch_size, 3, h, w) * 2 - 1,
            'path': ['a'] * batch_size}


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
TRAINED_LOOKING = ['--ngf', '4', '--ndf', '4', '--no_vgg_loss', '--gpu_ids', '-1', '--init_variance', '1',
                   '--cpu_allocator', 'system']


def save_trained_looking_model(checkpoints_dir: str, name: str, args) -> None:
    """A run folder as train.py leaves it (opt.json, latest_net_*.pth), with random weights whose spectral-norm
    vectors and batch-norm statistics have seen one training-mode pass (fresh ones can give non-finite images)."""
    from models.from_options import build_model
    options = TrainOptions()
    opt = options.parse([*args, *TRAINED_LOOKING, *small_predictors(args), '--checkpoints_dir', checkpoints_dir,
                         '--name', name], quiet=True)
    options.save_options(opt)
    torch.manual_seed(0)
    model = build_model(opt)
    first_step = next(iter(model.optimization().steps.values()))  # the generator's (SDM: the denoiser's)
    with torch.no_grad():
        model(random_batch(opt), mode=first_step.mode)
    save_model(model, 'latest')


def load_model(model, epoch='latest'):
    """Read <epoch>_net_{G,D,E}.pth of the model's run folder into it (as resuming does); returns it."""
    from models.sources import load_weights, resolve
    load_weights(model.networks_by_label(), resolve(model.store.folder, epoch, spec=model.spec))
    return model


def save_model(model, epoch) -> None:
    """<epoch>_net_{G,D,E}.pth and networks.json of a Pix2PixModel, as the trainer writes them (no training state)."""
    model.store.save(epoch, model.state_dicts(), spec_text=model.spec_at(epoch).to_text())


# In a process of its own (signals, torchrun): one thread, the same summation order in every run, so that weights
# can be compared bit for bit with other runs of its own.
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}


def run_in_own_process(script, *args):
    result = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True, env=ENV)
    if result.returncode != 0:
        raise AssertionError(f'{script} failed:\n{result.stderr[-3000:]}')
    return result


def torchrun(*args, timeout=300):
    return subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                           *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=ENV)
