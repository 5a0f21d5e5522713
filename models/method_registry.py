"""The methods (train.py --model NAME): each is one folder models/methods/<name>/ whose __init__.py registers one
`Method`; everything else is derived from this registry — spec validation, --model's choices and help, the
presets and torch.hub entries of released checkpoints, the benchmark's choices, the model card.

A method's folder holds:

    __init__.py      register(Method(...)): the facts below, its options, and its networks' modules (imported there,
                     so that their @register decorators run); its sampler, for a generator that is not one pass
    objective.py     its training half: a models.base_model.TrainableModel subclass (its losses, loss settings,
                     optimizer groups and average policy), named by `Method.objective` and imported only to train
    presets/*.json   specs of released checkpoints (optional)

The folders are found on disk when the `models` package is imported (`discover`), so adding a method touches no
other file. Nothing here imports training code: loading a model to synthesize imports a method's declaration and
networks, never its objective.
"""
import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch

from util.errors import UserError

METHOD_PACKAGE = 'models.methods'


@dataclass(frozen=True)
class LabelOrder:
    """How a method orders the label channels for its networks: `reorder(ids, inputs)` maps the dataset's channel
    ids to the networks' for a model of `inputs` (models.spec.ModelInputs; None: as the dataset numbers them)."""
    name: str
    reorder: Optional[Callable[[torch.Tensor, Any], torch.Tensor]] = None


DATASET_ORDER = LabelOrder('dataset')


def never(generator_arguments: Mapping[str, Any]) -> bool:
    return False


@dataclass(frozen=True)
class Method:
    name: str                                # train.py --model NAME; "method" in a spec (omitted for pix2pix)
    summary: str                             # one line for --model's help
    papers: Mapping[str, str]                # generator name -> the paper it implements (model cards cite it)
    objective: str                           # 'module:Class' of its TrainableModel, imported only to train
    discriminators: Tuple[str, ...]          # the --netD it trains with
    folder: str                              # its folder (presets/ in it)
    default_generator: str = 'condconv'      # the --netG it trains by default
    label_order: LabelOrder = DATASET_ORDER
    style_encoder: bool = False              # it can train a VAE style encoder (--use_vae)
    draws_noise: Callable[[Mapping[str, Any]], bool] = never  # whether a generator of these arguments draws a
                                                              # noise code when given none
    code_note: str = ''                      # what the model card says of its code z (with a noise code)
    add_options: Optional[Callable] = None   # (parser, is_train): its options and per-dataset defaults
    # How its generator makes images when that is not one call netG(semantics, z) (a diffusion model's sampler):
    # (netG, **sampling settings) -> a callable (semantics, z) -> images, with codes_from_seeds(seeds) -> z.
    synthesis: Optional[Callable] = None
    hub_entries: Mapping[str, Tuple[str, str]] = field(default_factory=dict)  # torch.hub entry: (preset, what)

    def paper(self, generator: str) -> str:
        return self.papers.get(generator) or next(iter(self.papers.values()))

    def trainable_model(self) -> type:
        """The class of its training half (models.base_model.TrainableModel), imported now."""
        module, _, name = self.objective.partition(':')
        return getattr(importlib.import_module(module), name)

    def presets(self) -> Dict[str, str]:
        """{preset name: spec file} of its released checkpoints."""
        folder = os.path.join(self.folder, 'presets')
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        return {name[:-len('.json')]: os.path.join(folder, name) for name in names if name.endswith('.json')}


REFERENCE_METHOD = 'pix2pix'  # the reference's --model value (its one model): SPADE's and CC-FPSE's objective
_METHODS: Dict[str, Method] = {}


def register(method: Method) -> Method:
    """Called once by each method's folder (its __init__.py)."""
    if method.name in _METHODS and _METHODS[method.name] != method:
        raise ValueError(f'a method named {method.name!r} is registered already')
    _METHODS[method.name] = method
    return method


def discover() -> None:
    """Import every method folder (models/methods/<name>/), so that each registers itself and its networks. Found
    on disk, not listed: a new folder is a new method."""
    package = importlib.import_module(METHOD_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.ispkg:
            importlib.import_module(f'{METHOD_PACKAGE}.{info.name}')


def names() -> List[str]:
    return sorted(_METHODS, key=lambda name: (name != REFERENCE_METHOD, name))


def method(name: str, source: str = '--model') -> Method:
    if name not in _METHODS:
        raise UserError(f'{source}: method {name!r} is not one of {", ".join(names())}')
    return _METHODS[name]


def label_orders() -> Dict[str, LabelOrder]:
    return {DATASET_ORDER.name: DATASET_ORDER, **{m.label_order.name: m.label_order for m in _METHODS.values()}}


def presets() -> Dict[str, str]:
    """{preset name: spec file} of every method's released checkpoints."""
    return {name: path for m in _METHODS.values() for name, path in m.presets().items()}
