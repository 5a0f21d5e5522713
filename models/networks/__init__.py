"""The shared networks, by name (`--netG condconv | spade`, `--netD fpse | multiscale`, the VAE encoder; a method's
own networks are in its folder, models/methods/<name>/), and building one from its description.

Every network takes explicit keyword arguments, named as the options they come from, so it is built in a notebook
without the option system:

    netG = CondConvGenerator(semantic_nc=184, ngf=64, crop_size=256, use_vae=True)

Every network records its `description` ({'class', 'arguments'}) when it is constructed (BaseNetwork); the model
spec (models.spec) keeps it, so that `build_network` makes the same network again without any options.
"""
import inspect
import math
from typing import Any, Dict, List, Optional, Type

import torch

from .base_network import RUNTIME_ARGUMENTS, BaseNetwork
from .discriminator import FPSEDiscriminator, MultiscaleDiscriminator
from .encoder import ConvEncoder
from .generator import CondConvGenerator, SPADEGenerator
from . import registry
from .limits import FLOAT_LIMITS, INT_LIMITS
from util.errors import UserError

# The losses are in models.networks.loss (the reference's module), imported by training only.
__all__ = ['BaseNetwork', 'CondConvGenerator', 'ConvEncoder', 'FPSEDiscriminator', 'MultiscaleDiscriminator',
           'RUNTIME_ARGUMENTS', 'SPADEGenerator', 'build_network', 'discriminator_names', 'generator_names']


def generator_names() -> List[str]:
    return registry.names('generator')


def discriminator_names() -> List[str]:
    return registry.names('discriminator')


def _build(cls: Type[BaseNetwork], arguments: Dict[str, Any], device: torch.device) -> BaseNetwork:
    """`cls(**arguments)` on `device` (it records its own description), with what tells a checkpoint of another
    network of its kind."""
    net = cls(**arguments).to(device)
    net.checkpoint_hints = registry.checkpoint_hints(cls)
    return net


def argument_problem(cls: Type[BaseNetwork], name: str, value: Any) -> Optional[str]:
    """Why `value` cannot be argument `name` of `cls` (None when it can): its type (as the constructor's annotation
    says) and range (models.networks.limits), checked before anything is allocated."""
    parameter = inspect.signature(cls.__init__).parameters.get(name)
    if parameter is None or name == 'self':
        return f'{cls.__name__} has no argument {name}'
    expected = parameter.annotation
    if expected is bool:
        return None if isinstance(value, bool) else f'{name} {value!r} is not true or false'
    if expected is str:
        return None if isinstance(value, str) else f'{name} {value!r} is not a string'
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f'{name} {value!r} is not a whole number'
    if expected is float and (isinstance(value,
                                         bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        return f'{name} {value!r} is not a finite number'
    low, high = INT_LIMITS.get(name) or FLOAT_LIMITS.get(name) or (None, None)
    if low is not None and not low <= value <= high:
        return f'{name} {value!r} is outside {low}..{high}'
    return None


def build_network(description: Dict[str, Any], device: torch.device = torch.device('cpu'),
                  source: str = 'the description', runtime: Optional[Dict[str, Any]] = None) -> BaseNetwork:
    """The network of a description ({'class': 'CondConvGenerator', 'arguments': {...}}), with fresh weights,
    computing as `runtime` says ({argument: value} of RUNTIME_ARGUMENTS that it takes; runtime arguments a
    description still holds, as those of runs before they were left out, are ignored). A description that is not
    one (`source` names where it came from) stops with one line, before anything is allocated."""
    if not isinstance(description, dict) or not isinstance(description.get('arguments'), dict):
        raise UserError(f'{source}: a network is described as {{"class": ..., "arguments": {{...}}}}: restore the file')
    entry = registry.entry_of_class(description.get('class'))
    if entry is None:
        known = ', '.join(e.cls.__name__ for table in registry.REGISTRY.values() for e in table.values())
        raise UserError(f'{source}: class {description.get("class")!r} is not a registered network ({known}): '
                        'restore the file, or import the module that registers it')
    cls = entry.cls
    accepted = inspect.signature(cls.__init__).parameters
    arguments = {k: v for k, v in description['arguments'].items() if k not in RUNTIME_ARGUMENTS}
    arguments.update({k: v for k, v in (runtime or {}).items() if k in accepted})
    required = [name for name, p in inspect.signature(cls.__init__).parameters.items()
                if name != 'self' and p.default is inspect.Parameter.empty and name not in arguments]
    problems = [f'{name} is missing' for name in required]
    problems += [problem for name,
                 value in arguments.items() for problem in [argument_problem(cls, name, value)] if problem]
    if problems:
        raise UserError(f'{source}: {cls.__name__}: {problems[0]}: restore the file')
    try:
        return _build(cls, arguments, device)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise UserError(f'{source}: {cls.__name__} cannot be built from its arguments ({type(exc).__name__}: '
                        f'{str(exc)[:120]}): restore the file') from None
