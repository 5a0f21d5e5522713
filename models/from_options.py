"""Options -> model: the one place below the command line that reads options to make a model (its spec, how it
computes, what it is trained with), so that everything else is built from a spec and explicit arguments."""
import argparse
from typing import Any, Dict

from util.checkpoint import CheckpointStore
from util.device import configure_cpu_allocator, select_device
from util.distributed import launched_rank
from util.errors import UserError
from util.util import settings_from
from .networks import RUNTIME_ARGUMENTS, network_arguments, registry
from .pix2pix_model import LossSettings, Pix2PixModel
from .spec import SPEC_FORMAT, Spec

# Each network of a model, by its label in the checkpoint file names: its kind (registry.KINDS names the option
# that chooses it; the encoder has one kind only).
ROLES = {'G': 'generator', 'D': 'discriminator', 'E': 'encoder'}
ENCODER = 'conv'
# The options that say what a model's networks read.
INPUT_OPTIONS = ('dataset_mode', 'label_nc', 'contain_dontcare_label', 'no_instance', 'crop_size', 'aspect_ratio')


def network_spec(label: str, opt: argparse.Namespace) -> Dict[str, Any]:
    """{'name', 'class', 'arguments'} of network `label` ('G', 'D', 'E') of the options."""
    kind = ROLES[label]
    option = registry.KINDS[kind]
    name = getattr(opt, option.lstrip('-')) if option else ENCODER
    cls = registry.entry(kind, name).cls
    arguments = {k: v for k, v in network_arguments(cls, opt).items() if k not in RUNTIME_ARGUMENTS}
    return {'name': name, 'class': cls.__name__, 'arguments': arguments}


def spec_from_options(opt: argparse.Namespace) -> Spec:
    """The spec of the model the options describe: G, E with --use_vae, D when training."""
    labels = ['G'] + (['E'] if opt.use_vae else []) + (['D'] if opt.isTrain else [])
    return {'format': SPEC_FORMAT,
            'networks': {label: network_spec(label, opt) for label in labels},
            'inputs': {name: getattr(opt, name) for name in INPUT_OPTIONS},
            'style': {'use_vae': opt.use_vae, 'z_dim': opt.z_dim},
            'provenance': {'dataset_mode': opt.dataset_mode, 'dataroot': opt.dataroot, 'name': opt.name}}


def options_of_spec(spec: Spec) -> Dict[str, Any]:
    """The architecture options a spec stands for (the inverse of spec_from_options on G and E): what test.py takes
    as the saved run's options for a model folder."""
    options = {**spec['inputs'], 'use_vae': spec['style']['use_vae']}
    if spec['style'].get('z_dim') is not None:
        options['z_dim'] = spec['style']['z_dim']
    for label in ('E', 'G'):  # G last: its arguments win where both have one (ngf)
        description = spec['networks'].get(label)
        if description:
            options.update(description['arguments'])
            option = registry.KINDS[ROLES[label]]
            if option:
                options[option.lstrip('-')] = description['name']
    options.pop('semantic_nc', None)  # derived from the label options
    return options


def runtime_from_options(opt: argparse.Namespace) -> Dict[str, Any]:
    """How this process's networks compute: the runtime arguments of the options (never part of a spec)."""
    return {name: getattr(opt, name) for name in RUNTIME_ARGUMENTS if hasattr(opt, name)}


def loss_settings(opt: argparse.Namespace) -> LossSettings:
    return settings_from(LossSettings, opt)


def build_model(opt: argparse.Namespace) -> Pix2PixModel:
    """The model the options describe, on their device (the C library's allocator set as --cpu_allocator says on
    the CPU), with fresh weights; for training, with D and the losses."""
    if opt.output_nc not in (1, 3):
        raise UserError(f'--output_nc {opt.output_nc}: images have 3 (colour) or 1 (grey) channels')
    device = select_device(opt.gpu_ids, announce=launched_rank() == 0)
    if device.type == 'cpu':
        configure_cpu_allocator(opt.cpu_allocator)
    return Pix2PixModel(spec_from_options(opt), CheckpointStore(opt.checkpoints_dir, opt.name), device, opt.amp,
                        loss_settings(opt) if opt.isTrain else None, runtime_from_options(opt),
                        (opt.init_type, opt.init_variance))
