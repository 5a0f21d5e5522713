"""torch.hub entry points: the authors' released checkpoints and any converted model, as a Synthesizer.

    synthesizer = torch.hub.load('path/to/this/repository', 'ccfpse_coco', source='local',
                                 weights='checkpoints/coco_best/100_net_G.pth')
    synthesizer = torch.hub.load('path/to/this/repository', 'from_pretrained', 'owner/name', source='local')

The released files come from the authors' Google Drive folder (README, "Testing and released checkpoints"), which
has no direct download link: `weights` is the G file, the encoder (`<epoch>_net_E.pth`) is read from beside it; the
architecture is the preset's (models/methods/<method>/presets/<name>.json). The entries of released checkpoints
are those the methods declare (models.method_registry: Method.hub_entries); every entry point is
Synthesizer.from_pretrained.
"""
import os
import re
from typing import Any, Optional

from models import method_registry
from models.sources import preset_file, read_spec_file
from models.synthesizer import Synthesizer
from util.errors import UserError

dependencies = ['torch', 'torchvision', 'numpy', 'PIL']


def released_file(preset: str) -> str:
    """How the released generator's file is named, below its folder: `{epoch}_net_G.pth`, or the preset's own."""
    return read_spec_file(preset_file(preset)).released_files.get('G', '{epoch}_net_G.pth')


def _released(preset: str, weights: Optional[str], gpu_ids: str, arguments: dict) -> Synthesizer:
    pattern = released_file(preset)
    if not weights:
        raise UserError(f'{preset}: pass weights=PATH, the released {pattern} (the released files have no direct '
                        'download link; see the README)')
    parts = pattern.split('/')
    tail = '/'.join(os.path.abspath(weights).split(os.sep)[-len(parts):])
    match = re.fullmatch(re.escape(pattern).replace(re.escape('{epoch}'), '(?P<epoch>[^/]+)'), tail)
    if not match or not os.path.isfile(weights):
        raise UserError(f'{preset}: weights={weights} is not a file named {pattern} as released')
    folder = os.path.abspath(weights)
    for _ in parts:
        folder = os.path.dirname(folder)
    return Synthesizer.from_pretrained(folder, match['epoch'], preset=preset, gpu_ids=gpu_ids, arguments=arguments)


def _entry(preset: str, description: str):
    def load(weights: Optional[str] = None, gpu_ids: str = '-1', **arguments: Any) -> Synthesizer:
        return _released(preset, weights, gpu_ids, arguments)
    load.__name__ = preset
    load.__doc__ = (f'{description}: a Synthesizer with the released weights. `weights`: the released '
                    f'{released_file(preset)}; `gpu_ids`: "0" for the first GPU; other keyword arguments give other '
                    'sizes of the architecture (constructor arguments such as ngf=32, crop_size=128).')
    return load


for _method in method_registry.names():
    for _name, (_preset, _description) in method_registry.method(_method).hub_entries.items():
        globals()[_name] = _entry(_preset, _description)


def from_pretrained(source: str, gpu_ids: str = '-1', **kwargs) -> Synthesizer:
    """Synthesizer.from_pretrained: a model folder (scripts/convert_checkpoint.py), a run folder or a Hugging Face
    Hub repository id."""
    return Synthesizer.from_pretrained(source, gpu_ids=gpu_ids, **kwargs)
