"""The model spec: the one description of a model, kept as networks.json in a run folder and as config.json in a
model folder.

    {'format': 'cc-fpse model 2',
     'networks': {'G': {'name': 'condconv', 'class': 'CondConvGenerator', 'arguments': {...}}, 'E': ..., 'D': ...},
     'inputs': {'dataset_mode', 'label_nc', 'contain_dontcare_label', 'no_instance', 'crop_size', 'aspect_ratio'},
     'style': {'use_vae', 'z_dim'},
     'provenance': {'dataset_mode', 'dataroot', 'name', 'epoch', ...}}

The code z, in one vocabulary: a generator takes a code of `code_dim` (its z_dim) numbers when it has one, either
a style (`use_vae`: the encoder E gives it from a photo) or noise (`noise`: the generator draws it when given none);
a seed gives either (models.inputs.seed_style). Whether a method's generator draws noise is the method's to say
(models.method_registry.Method.draws_noise).

`ModelSpec.from_json` reads and checks such a dict once (files of format 1, written before the spec, are upgraded);
everything after it reads typed fields. `build_networks` is the one way networks are built from a spec. How the
networks compute (the runtime arguments) is never part of a spec. A network built in Python from its constructor
carries its description (models.networks.BaseNetwork), so `ModelSpec.describe` makes the spec of networks built in a
notebook.
"""
import copy
import json
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterable, Mapping, Optional

import torch

from data import dataset_names
from data.classes import LabelSet, label_channels, label_set, unlabeled_channel
from util.errors import UserError
from . import method_registry
from .method_registry import REFERENCE_METHOD, label_orders, names as method_names
from .networks import BaseNetwork, build_network, registry
from .networks.limits import FLOAT_LIMITS, INT_LIMITS
from .networks.registry import LABELS

SPEC_FORMAT, LEGACY_FORMAT = 'cc-fpse model 2', 'cc-fpse networks 1'


@dataclass(frozen=True)
class NetworkSpec:
    """One network: its registered name, class and constructor arguments (runtime arguments left out)."""
    name: str
    cls: str
    arguments: Mapping[str, Any]

    def to_json(self) -> Dict[str, Any]:
        return {'name': self.name, 'class': self.cls, 'arguments': copy.deepcopy(dict(self.arguments))}


@dataclass(frozen=True)
class ModelInputs:
    """What the networks read: the dataset's label set, whether instance edges are an input, the image size, the
    order of the label channels."""
    dataset_mode: str
    label_nc: int
    contain_dontcare_label: bool
    no_instance: bool
    crop_size: Optional[int] = None       # None only in specs upgraded from format 1 without a size
    aspect_ratio: Optional[float] = None
    label_order: str = 'dataset'          # how the method orders the channels (models.method_registry.LabelOrder)

    @property
    def unlabeled_channel(self) -> Optional[int]:
        """The channel of unlabelled pixels in the dataset's order (None when every channel is a class)."""
        return unlabeled_channel(self.dataset_mode, self.label_nc, self.contain_dontcare_label)

    @property
    def num_labels(self) -> int:
        """Label channels: label_nc, plus one for don't-care."""
        return label_channels(self.label_nc, self.contain_dontcare_label)

    @property
    def semantic_nc(self) -> int:
        """Channels of the generator's input: the label channels, plus the instance edges."""
        return self.num_labels + (0 if self.no_instance else 1)


@dataclass(frozen=True)
class ModelSpec:
    networks: Mapping[str, NetworkSpec]   # by label: 'G', and 'E' (with a VAE), 'D' (for training)
    inputs: ModelInputs
    use_vae: bool                         # a style encoder E gives z from a photo
    z_dim: Optional[int]
    provenance: Mapping[str, Any] = field(default_factory=dict)  # where it comes from: dataset, run, epoch, ...
    method: str = REFERENCE_METHOD        # the method it is trained with (models.method_registry)
    noise: bool = False                   # the generator draws a noise code z (OASIS's 3D noise) when given none
    released_files: Mapping[str, str] = field(default_factory=dict)  # a preset's: {label: 'models/{epoch}_EMA.pth'}

    @property
    def code_dim(self) -> int:
        """Size of the code z the generator takes (a VAE style or a noise code), 0 when it takes none."""
        return (self.z_dim or 0) if self.use_vae or self.noise else 0

    @property
    def samples(self) -> bool:
        """Whether its method makes images with a sampler (a loop of network calls: SDM's), not in one pass."""
        return method_registry.method(self.method).synthesis is not None

    @property
    def takes_code(self) -> bool:
        """Whether the generator takes a code z: a VAE style, a noise code (OASIS), or a sampler's seed (SDM)."""
        return self.code_dim > 0 or self.samples

    @property
    def generator(self) -> NetworkSpec:
        return self.networks['G']

    @property
    def labels(self) -> LabelSet:
        """The classes of the model's label channels."""
        return label_set(self.inputs.dataset_mode, self.inputs.label_nc, self.inputs.contain_dontcare_label)

    @property
    def reads_instances(self) -> bool:
        return not self.inputs.no_instance

    @property
    def output_nc(self) -> int:
        """Channels of the generated images (and of the style photos the encoder reads)."""
        return self.generator.arguments.get('output_nc', 3)

    def to_json(self) -> Dict[str, Any]:
        """The spec as JSON; what is not the default of the pix2pix family (method, label order, noise, a preset's
        files) only where it differs, so that the files of runs before it are written as they were."""
        inputs = {name: getattr(self.inputs, name) for name in INPUT_FIELDS
                  if getattr(self.inputs, name) is not None or name in REQUIRED_INPUTS}
        if self.inputs.label_order != 'dataset':
            inputs['label_order'] = self.inputs.label_order
        style = {'use_vae': self.use_vae, 'z_dim': self.z_dim, **({'noise': True} if self.noise else {})}
        return {'format': SPEC_FORMAT, **({'method': self.method} if self.method != REFERENCE_METHOD else {}),
                'networks': {label: network.to_json() for label, network in self.networks.items()},
                'inputs': inputs, 'style': style,
                'provenance': copy.deepcopy(dict(self.provenance)),
                **({'released_files': dict(self.released_files)} if self.released_files else {})}

    def to_text(self) -> str:
        """The JSON text of the spec's files (networks.json, config.json)."""
        return json.dumps(self.to_json(), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, raw: Any, source: str) -> 'ModelSpec':
        """The spec of a JSON value, checked as the command line checks the options its inputs come from; one line
        naming `source` otherwise (before any network is allocated: build_network checks the arguments)."""
        if not isinstance(raw, dict) or raw.get('format') not in (SPEC_FORMAT, LEGACY_FORMAT):
            found = raw.get('format') if isinstance(raw, dict) else type(raw).__name__
            raise UserError(f'{source} is not a model spec (format {found!r}, expected {SPEC_FORMAT!r}): restore it, '
                            'or remove it to rebuild the networks from opt.json')
        if raw['format'] == LEGACY_FORMAT:
            raw = _upgrade(raw)
        inputs, networks, style = raw.get('inputs'), raw.get('networks'), raw.get('style')
        if not isinstance(inputs, dict) or set(REQUIRED_INPUTS) - set(inputs):
            raise UserError(f'{source}: "inputs" must give {", ".join(REQUIRED_INPUTS)}: restore the file')
        for name, value in inputs.items():
            problem = None if name == 'label_order' and value in label_orders() else _input_problem(name, value)
            if problem:
                raise UserError(f'{source}: inputs.{name} {value!r} {problem}: restore the file')
        if not isinstance(networks, dict) or 'G' not in networks:
            raise UserError(f'{source}: no generator (G) is described: restore the file')
        if not isinstance(style, dict) or not isinstance(style.get('use_vae'), bool):
            raise UserError(f'{source}: "style" must give use_vae (true or false): restore the file')
        described = {}
        for label, description in networks.items():
            if label not in LABELS or not isinstance(description, dict) or \
                    not isinstance(description.get('arguments'), dict) or not isinstance(description.get('class'), str):
                raise UserError(f'{source}: networks.{label}: a network is described as {{"name": ..., "class": ..., '
                                '"arguments": {...}}: restore the file')
            described[label] = NetworkSpec(str(description.get('name', '')), description['class'],
                                           dict(description['arguments']))
        method_name, noise = raw.get('method', REFERENCE_METHOD), style.get('noise', False)
        if method_name not in method_names():
            raise UserError(f'{source}: method {method_name!r} is not one of {", ".join(method_names())}: restore '
                            'the file')
        if not isinstance(noise, bool) or (noise or style['use_vae']) and _input_problem('z_dim', style.get('z_dim')):
            raise UserError(f'{source}: "style" must give noise (true or false) and, with a code, z_dim: restore the '
                            f'file')
        released = raw.get('released_files', {})
        if not isinstance(released, dict) or not all(isinstance(v, str) and '..' not in v for v in released.values()):
            raise UserError(f'{source}: "released_files" must map network labels to file patterns: restore the file')
        provenance = raw.get('provenance') if isinstance(raw.get('provenance'), dict) else {}
        return cls(described, ModelInputs(**{name: inputs.get(name) for name in INPUT_FIELDS},
                                          label_order=inputs.get('label_order', 'dataset')),
                   style['use_vae'], style.get('z_dim'), provenance, method_name, noise, released)

    @classmethod
    def describe(cls, inputs: ModelInputs, provenance: Optional[Mapping[str, Any]] = None,
                 method: str = REFERENCE_METHOD, **networks: Optional[BaseNetwork]) -> 'ModelSpec':
        """The spec of networks built in Python (G=..., E=..., D=...) for `method`, from the description
        each carries since its constructor ran. `inputs` says what the generator reads; the code z comes from the
        networks (an encoder E: a VAE style; else the method says whether the generator draws a noise code)."""
        networks = {label: net for label, net in networks.items() if net is not None}
        described = {}
        for label, net in networks.items():
            entry = registry.entry_of_class(type(net).__name__)
            if entry is None:
                raise UserError(f'{type(net).__name__} is not a registered network: decorate it with '
                                'models.networks.registry.register')
            described[label] = NetworkSpec(entry.name, net.description['class'], dict(net.description['arguments']))
        generator = networks['G']
        if inputs.crop_size is None:
            width, height = generator.output_size
            inputs = replace(inputs, crop_size=width, aspect_ratio=width / height)
        z_dim = generator.z_dim or None
        return cls(described, inputs, 'E' in networks, z_dim, dict(provenance or {}), method,
                   method_registry.method(method).draws_noise(described['G'].arguments))

    def with_networks(self, labels: Iterable[str]) -> 'ModelSpec':
        """The spec of some of its networks (e.g. 'GE' for synthesis: a model folder has no discriminator)."""
        return replace(self, networks={label: n for label, n in self.networks.items() if label in labels})

    def with_provenance(self, **values: Any) -> 'ModelSpec':
        return replace(self, provenance={**self.provenance, **values})

    def with_arguments(self, **values: Any) -> 'ModelSpec':
        """Other sizes of the same architecture: each value replaces the constructor argument of that name in every
        network that has one, and the input of that name (crop_size, aspect_ratio)."""
        networks = {label: replace(n,
                                   arguments={**n.arguments, **{k: v for k, v in values.items() if k in n.arguments}})
                    for label, n in self.networks.items()}
        unknown = sorted(set(values) - {k for n in networks.values() for k in n.arguments} - set(INPUT_FIELDS))
        if unknown:
            raise UserError(f'{", ".join(unknown)}: no network of the model takes such an argument')
        inputs = replace(self.inputs, **{k: v for k, v in values.items() if k in INPUT_FIELDS})
        z_dim = values.get('z_dim', self.z_dim)
        return replace(self, networks=networks, inputs=inputs, z_dim=z_dim)


INPUT_FIELDS = ('dataset_mode', 'label_nc', 'contain_dontcare_label', 'no_instance', 'crop_size', 'aspect_ratio')
REQUIRED_INPUTS = INPUT_FIELDS[:4]


def _input_problem(name: str, value: Any) -> Optional[str]:
    """Why `value` cannot be input `name` (None when it can): the checks of the option of that name."""
    if name == 'dataset_mode':
        return None if value in dataset_names() else 'is not a value of --dataset_mode'
    if name in ('contain_dontcare_label', 'no_instance'):
        return None if isinstance(value, bool) else 'is not true or false'
    if name in INT_LIMITS:
        low, high = INT_LIMITS[name]
        valid = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if valid else f'is not a whole number from {low} to {high}'
    if name in FLOAT_LIMITS:
        low, high = FLOAT_LIMITS[name]
        valid = isinstance(value, (int, float)) and not isinstance(value, bool) and low < value < high
        return None if valid else f'is not a number between {low} and {high}'
    return 'is not an input of a model'


def _upgrade(legacy: Dict[str, Any]) -> Dict[str, Any]:
    """A networks.json of format 1 ({'inputs', 'G', 'E', 'D'}) as the JSON of a spec."""
    networks = {label: legacy[label] for label in LABELS if isinstance(legacy.get(label), dict)}
    generator_arguments = (networks.get('G') or {}).get('arguments') or {}
    inputs = dict(legacy.get('inputs') or {})
    for name in ('crop_size', 'aspect_ratio'):
        if name in generator_arguments:
            inputs.setdefault(name, generator_arguments[name])
    for label, description in networks.items():
        entry = registry.entry_of_class(description.get('class')) if isinstance(description, dict) else None
        if entry is not None:
            networks[label] = {'name': entry.name, **description}
    return {'format': SPEC_FORMAT, 'networks': networks, 'inputs': inputs,
            'style': {'use_vae': 'E' in networks, 'z_dim': generator_arguments.get('z_dim')}, 'provenance': {}}


def build_networks(spec: ModelSpec, device: torch.device = torch.device('cpu'),
                   runtime: Optional[Dict[str, Any]] = None, labels: Iterable[str] = 'GE',
                   init: Optional[tuple] = None, source: str = 'the spec') -> Dict[str, Optional[BaseNetwork]]:
    """{label: network or None} of the spec's networks among `labels`, computing as `runtime` says, with fresh
    weights (initialised as the options say with `init` = (init_type, init_variance)). The one way every command
    builds a model's networks."""
    networks = {}
    for label in labels:
        description = spec.networks.get(label)
        net = None if description is None else build_network(description.to_json(), device, source, runtime)
        if net is not None and init is not None:
            net.init_weights(*init)
        networks[label] = net
    return networks
