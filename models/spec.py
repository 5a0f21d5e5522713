"""The model spec: the one description of a model, kept in the run folder as networks.json.

    {'format': 'cc-fpse model 2',
     'networks': {'G': {'name': 'condconv', 'class': 'CondConvGenerator', 'arguments': {...}}, 'E': ..., 'D': ...},
     'inputs': {'dataset_mode', 'label_nc', 'contain_dontcare_label', 'no_instance', 'crop_size', 'aspect_ratio'},
     'style': {'use_vae', 'z_dim'},
     'provenance': {'dataset_mode', 'dataroot', 'name', 'epoch'}}

models.from_options.spec_from_options is the one place that turns options into a spec (training, and the released
checkpoints' presets, which come without one); everything after it (training and resuming, test.py,
synthesize.py, the demo, the FID during training) builds its networks from a spec with `build_networks`. How the
networks compute (the runtime arguments) is never in a spec. Files of format 1 (runs trained before the spec) are
read and upgraded.
"""
from typing import Any, Dict, Iterable, Optional

import torch

from data import dataset_names
from data.classes import LabelSet, label_set
from util.checkpoint import CheckpointStore
from util.errors import UserError
from .networks import BaseNetwork, build_network
from .networks.limits import INT_LIMITS

SPEC_FORMAT, LEGACY_FORMAT = 'cc-fpse model 2', 'cc-fpse networks 1'
LABELS = ('G', 'D', 'E')  # the networks of a model, as the checkpoint files name them

Spec = Dict[str, Any]


def _upgrade(legacy: Dict[str, Any]) -> Spec:
    """A networks.json of format 1 ({'inputs', 'G', 'E', 'D'}) as a spec."""
    networks = {label: legacy[label] for label in LABELS if label in legacy}
    generator_arguments = (networks.get('G') or {}).get('arguments') or {}
    inputs = dict(legacy.get('inputs') or {})
    for name in ('crop_size', 'aspect_ratio'):
        if name in generator_arguments:
            inputs.setdefault(name, generator_arguments[name])
    return {'format': SPEC_FORMAT, 'networks': networks, 'inputs': inputs,
            'style': {'use_vae': 'E' in networks, 'z_dim': generator_arguments.get('z_dim')},
            'provenance': {}}


def check_spec(spec: Any, source: str) -> Spec:
    """The spec, its inputs checked as the command line checks the options they come from; one line naming
    `source` otherwise."""
    if not isinstance(spec, dict) or spec.get('format') not in (SPEC_FORMAT, LEGACY_FORMAT):
        found = spec.get('format') if isinstance(spec, dict) else type(spec).__name__
        raise UserError(f'{source} is not a model spec (format {found!r}, expected {SPEC_FORMAT!r}): restore it, or '
                        'remove it to rebuild the networks from opt.json')
    if spec['format'] == LEGACY_FORMAT:
        spec = _upgrade(spec)
    inputs, networks = spec.get('inputs'), spec.get('networks')
    rules = {'dataset_mode': dataset_names(), 'label_nc': 'label_nc', 'contain_dontcare_label': bool,
             'no_instance': bool}
    if not isinstance(inputs, dict) or set(rules) - set(inputs):
        raise UserError(f'{source}: "inputs" must give {", ".join(rules)}: restore the file')
    for name, rule in rules.items():
        value = inputs[name]
        if rule is bool:
            valid = isinstance(value, bool)
        elif rule == 'label_nc':
            low, high = INT_LIMITS['label_nc']
            valid = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        else:
            valid = value in rule
        if not valid:
            raise UserError(f'{source}: inputs.{name} {value!r} is not a value of --{name}: restore the file')
    if not isinstance(networks, dict) or 'G' not in networks:
        raise UserError(f'{source}: no generator (G) is described: restore the file')
    return spec


def read_spec(store: CheckpointStore) -> Optional[Spec]:
    """The spec of a run folder (networks.json), or None when it has none (the released checkpoints)."""
    raw = store.read_networks()
    return None if raw is None else check_spec(raw, store.networks_path())


def build_networks(spec: Spec, device: torch.device = torch.device('cpu'), runtime: Optional[Dict[str, Any]] = None,
                   labels: Iterable[str] = 'GE', init: Optional[tuple] = None,
                   source: str = 'the spec') -> Dict[str, Optional[BaseNetwork]]:
    """{label: network or None} of the spec's networks among `labels`, computing as `runtime` says, with fresh
    weights (initialised as the options say with `init` = (init_type, init_variance)). The one way every command
    builds a model's networks."""
    networks = {}
    for label in labels:
        description = spec['networks'].get(label)
        net = None if description is None else build_network(description, device, source, runtime)
        if net is not None and init is not None:
            net.init_weights(*init)
        networks[label] = net
    return networks


def labels_of_spec(spec: Spec) -> LabelSet:
    """The classes of the model's label channels."""
    inputs = spec['inputs']
    return label_set(inputs['dataset_mode'], inputs['label_nc'], inputs['contain_dontcare_label'])
