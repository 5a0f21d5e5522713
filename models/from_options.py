"""Options -> model: the one place below the command line that reads options to make a model (its spec, how it
computes, what it is trained with), so that everything else is built from a spec and explicit arguments."""
import argparse
import inspect
from typing import TYPE_CHECKING, Any, Dict, Mapping, Type

from data import find_dataset_using_name
from util.checkpoint import CheckpointStore
from util.errors import UserError, exception_reason
from util.util import settings_from
from .method_registry import REFERENCE_METHOD, method
from .networks import RUNTIME_ARGUMENTS, BaseNetwork, registry
from .recipe import ModelRecipe
from .spec import INPUT_FIELDS, ModelInputs, ModelSpec, NetworkSpec

if TYPE_CHECKING:
    from .base_model import TrainableModel

ENCODER = 'conv'  # the one registered encoder (a kind without an option)


def network_arguments(cls: Type[BaseNetwork], opt: Any) -> Dict[str, Any]:
    """The constructor arguments of `cls` from the options: each argument is the option of the same name
    (`semantic_nc` and `sync_bn` are derived in options.base_options.finish_options); an argument that no option
    sets keeps the constructor's default, and one without a default is one line."""
    arguments = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == 'self':
            continue
        if hasattr(opt, name):
            arguments[name] = getattr(opt, name)
        elif parameter.default is not inspect.Parameter.empty:
            arguments[name] = parameter.default
        else:
            raise UserError(f'{cls.__name__} needs the argument {name}, which no option sets: give it a default, or '
                            'declare the option in the network\'s add_options (models.networks.registry)')
    return arguments


def network_spec(label: str, opt: Any) -> NetworkSpec:
    """The description of network `label` ('G', 'D', 'E') of the options."""
    kind = registry.KIND_OF_LABEL[label]
    option = registry.KINDS[kind].option
    name = getattr(opt, option.lstrip('-')) if option else ENCODER
    cls = registry.entry(kind, name).cls
    arguments = {k: v for k, v in network_arguments(cls, opt).items() if k not in RUNTIME_ARGUMENTS}
    return NetworkSpec(name, cls.__name__, arguments)


def method_of(opt: Any) -> str:
    """The method of the options: train.py's --model (test options' --model names a model instead)."""
    return opt.model if opt.isTrain else REFERENCE_METHOD


def spec_from_options(opt: argparse.Namespace) -> ModelSpec:
    """The spec of the model the options describe: G, E with --use_vae, D when training."""
    trained = method(method_of(opt))
    if opt.use_vae and not trained.style_encoder:
        raise UserError(f'--use_vae: --model {trained.name} has no style encoder; drop it')
    labels = ['G'] + (['E'] if opt.use_vae else []) + (['D'] if opt.isTrain and trained.discriminators else [])
    networks = {label: network_spec(label, opt) for label in labels}
    inputs = ModelInputs(**{name: getattr(opt, name) for name in INPUT_FIELDS}, label_order=trained.label_order.name)
    # Where the data came from: --dataroot only for datasets read from it (the synthetic and custom ones are not).
    reads_dataroot = find_dataset_using_name(opt.dataset_mode).reads_dataroot
    provenance = {'dataset_mode': opt.dataset_mode, **({'dataroot': opt.dataroot} if reads_dataroot else {}),
                  'name': opt.name}
    return ModelSpec(networks, inputs, opt.use_vae, opt.z_dim, provenance, trained.name,
                     trained.draws_noise(networks['G'].arguments))


def spec_from_saved_options(saved: Mapping[str, Any], source: str) -> ModelSpec:
    """The spec of G and E of a run trained before runs kept their spec, from its opt.json (`source`)."""
    options = argparse.Namespace(**{**saved, 'isTrain': False})
    missing = [name for name in ('use_vae', 'z_dim', 'netG', *INPUT_FIELDS) if not hasattr(options, name)]
    if missing:
        raise UserError(f'{source} does not say {", ".join(missing)}: restore it, or give the architecture with '
                        '--preset')
    try:
        spec = spec_from_options(options)
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise UserError(f'{source} does not describe a model this code builds ({exception_reason(exc)}): '
                        'restore it') from None
    # Through the checks of a spec file, so that an edited opt.json cannot bring in `ngf -4` either.
    return ModelSpec.from_json(spec.to_json(), source)


def runtime_from_options(opt: argparse.Namespace) -> Dict[str, Any]:
    """How this process's networks compute: the runtime arguments of the options (never part of a spec)."""
    return {name: getattr(opt, name) for name in RUNTIME_ARGUMENTS if hasattr(opt, name)}


def model_recipe(opt: argparse.Namespace) -> ModelRecipe:
    """How to build the model the options describe (for training, with D and its method's losses)."""
    settings = settings_from(method(method_of(opt)).trainable_model().settings_class, opt) if opt.isTrain else None
    return ModelRecipe(spec=spec_from_options(opt), settings=settings, runtime=runtime_from_options(opt),
                       init=(opt.init_type, opt.init_variance), amp=opt.amp, gpu_ids=opt.gpu_ids,
                       cpu_allocator=opt.cpu_allocator, memory_budget=opt.memory_budget, batch_size=opt.batchSize)


def build_model(opt: argparse.Namespace) -> 'TrainableModel':
    """The model the options describe, on their device, with fresh weights; for training, with D and the losses."""
    return model_recipe(opt).build(CheckpointStore(opt.checkpoints_dir, opt.name))
