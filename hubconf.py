"""torch.hub entry points: the authors' released checkpoints and any converted model, as a Synthesizer.

    synthesizer = torch.hub.load('path/to/this/repository', 'ccfpse_coco', source='local',
                                 weights='checkpoints/coco_pretrained/latest_net_G.pth')
    synthesizer = torch.hub.load('path/to/this/repository', 'from_pretrained', 'owner/name', source='local')

The released files come from the authors' Google Drive folder (README, "Testing and released checkpoints"), which
has no direct download link: `weights` is the G file, the encoder (`<epoch>_net_E.pth`) is read from beside it; the
architecture is the preset's (models/presets/<name>.json). Every entry point is Synthesizer.from_pretrained.
"""
import os
import re
from typing import Any, Optional

from models.synthesizer import Synthesizer
from util.errors import UserError

dependencies = ['torch', 'torchvision', 'numpy', 'PIL']

RELEASED_FILE = re.compile(r'^(?P<epoch>.+)_net_G\.pth$')


def _released(preset: str, weights: Optional[str], gpu_ids: str, arguments: dict) -> Synthesizer:
    if not weights:
        raise UserError(f'{preset}: pass weights=PATH, the released <epoch>_net_G.pth (the authors\' Google Drive '
                        'folder has no direct download link; see the README)')
    match = RELEASED_FILE.match(os.path.basename(weights))
    if not match or not os.path.isfile(weights):
        raise UserError(f'{preset}: weights={weights} is not a file named <epoch>_net_G.pth as released')
    return Synthesizer.from_pretrained(os.path.dirname(os.path.abspath(weights)), match['epoch'], preset=preset,
                                       gpu_ids=gpu_ids, arguments=arguments)


def _entry(preset: str, description: str):
    def load(weights: Optional[str] = None, gpu_ids: str = '-1', **arguments: Any) -> Synthesizer:
        return _released(preset, weights, gpu_ids, arguments)
    load.__name__ = preset
    load.__doc__ = (f'{description}: a Synthesizer with the released weights. `weights`: the released '
                    '<epoch>_net_G.pth; `gpu_ids`: "0" for the first GPU; other keyword arguments give other sizes of '
                    'the architecture (constructor arguments such as ngf=32, crop_size=128).')
    return load


ccfpse_coco = _entry('coco', 'CC-FPSE trained on COCO-Stuff (the authors\' test_coco.sh)')
ccfpse_ade20k = _entry('ade20k', 'CC-FPSE trained on ADE20K (the authors\' test_ade.sh)')
ccfpse_cityscapes = _entry('cityscapes', 'CC-FPSE trained on Cityscapes (the authors\' test_cityscapes.sh)')
spade_coco = _entry('spade_coco', "SPADE's coco_pretrained (NVlabs/SPADE)")
spade_ade20k = _entry('spade_ade20k', "SPADE's ade20k_pretrained (NVlabs/SPADE)")
spade_cityscapes = _entry('spade_cityscapes', "SPADE's cityscapes_pretrained (NVlabs/SPADE)")


def from_pretrained(source: str, gpu_ids: str = '-1', **kwargs) -> Synthesizer:
    """Synthesizer.from_pretrained: a model folder (scripts/convert_checkpoint.py), a run folder or a Hugging Face
    Hub repository id."""
    return Synthesizer.from_pretrained(source, gpu_ids=gpu_ids, **kwargs)
