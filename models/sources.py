"""Where a trained model comes from: one resolver for every source, and one loader of its weights.

    resolve('checkpoints/my_run', which_epoch='latest', use_ema=False)     # a run folder of train.py
    resolve('pretrained/my_run')                                         # a model folder: config.json + safetensors
    resolve('owner/name')                                                # a Hugging Face Hub repository id
    resolve('exported/my_run-onnx')                                      # scripts/export.py's folder (onnxruntime)
    resolve('checkpoints/coco_best', '100', preset='coco')               # released files, described by a preset

Each gives a `ResolvedModel`: the model's spec (networks.json, config.json, a preset's file, or for runs trained
before runs kept one, their opt.json) and the weight file of each network. `load_weights` reads the files into
networks built from the spec: the one place the generator (or its average, G_ema), the discriminator and the
encoder are loaded. Synthesizer.from_pretrained and resuming a run go through both.
"""
import os
import re
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from util.checkpoint import NETWORKS_FILE, CheckpointStore, load_strictly
from util.errors import UserError, exception_reason
from util.user_files import read_json
from .from_options import spec_from_saved_options
from .method_registry import presets
from .spec import ModelSpec

CONFIG_FILE = 'config.json'
WEIGHT_FILES = {'G': 'G.safetensors', 'E': 'E.safetensors'}      # a model folder's
EXPORTED_FILES = {'G': 'generator.onnx', 'E': 'encoder.onnx'}    # an exported folder's (scripts/export.py)
HUB_FILES = [CONFIG_FILE, '*.safetensors', 'README.md']
HUB_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')  # owner/name
# The largest spec file read: a spec is a few kB; a huge file is a mistake or an attack, not a model.
MAX_SPEC_BYTES = 1 << 20


def average_suffix(average: bool) -> str:
    """The end of an output folder's name (test_<epoch>, synthesized_<epoch>) for a run's average, beside the plain
    generator's."""
    return '_ema' if average else ''


@dataclass(frozen=True)
class ResolvedModel:
    """A model found on this machine: its spec and the file of each of its networks."""
    spec: ModelSpec
    files: Mapping[str, str]   # network label ('G', 'D', 'E') -> weight file (G_ema's for a run's average)
    kind: str                  # 'run' (train.py's folder), 'folder' (config.json + safetensors), 'exported' (ONNX)
    folder: str
    name: str                  # what names it in output folders and pages
    spec_file: str             # where the spec came from (named in errors)
    epoch: str = ''            # a run's --which_epoch

    @property
    def is_run_average(self) -> bool:
        """Whether the generator is a run's moving average (<epoch>_net_G_ema.pth, --use_ema)."""
        return self.kind == 'run' and str(self.files.get('G', '')).endswith('_net_G_ema.pth')

    @property
    def folder_suffix(self) -> str:
        """What tells its output folders from the plain generator's: '_ema' for a run's average."""
        return average_suffix(self.is_run_average)

    @property
    def described_by_its_folder(self) -> bool:
        """Whether the spec is the folder's own file (not a preset's, nor the command line's)."""
        return os.path.dirname(os.path.abspath(self.spec_file)) == os.path.abspath(self.folder)

    def missing_file(self, label: str) -> str:
        """The line for a weight file that is not there."""
        path = self.files[label]
        if self.kind == 'run' and self.spec.released_files:
            return f'no file {path} (--which_epoch {self.epoch}): {self.spec_file} reads the released files as ' \
                   f'{self.spec.released_files[label]}; check --name, --checkpoints_dir and --which_epoch'
        if self.kind == 'run':
            store = CheckpointStore(os.path.dirname(self.folder) or '.', os.path.basename(self.folder))
            return store.missing_checkpoint(self.epoch, os.path.basename(path)[len(f'{self.epoch}_net_'):-len('.pth')])
        what = 'generator' if label == 'G' else 'style encoder'
        return f'{self.folder} has no {os.path.basename(path)} ({self.spec_file} describes a {what}): ' + \
            ('export the model again' if self.kind == 'exported' else 'convert the model again')


def preset_names() -> List[str]:
    """The released checkpoints' presets (models/methods/<method>/presets/<name>.json)."""
    return sorted(presets())


def read_spec_file(path: str) -> ModelSpec:
    """A spec file (networks.json, config.json, a preset), read within a size limit (util.user_files) and checked."""
    return ModelSpec.from_json(read_json(path, 'model spec', MAX_SPEC_BYTES), path)


def run_weight_files(store: CheckpointStore, epoch: str, use_ema: bool = False, labels: str = 'GDE') -> Dict[str, str]:
    """{label: <epoch>_net_<label>.pth} of a run folder; the generator's is G_ema's with `use_ema`."""
    return {label: store.network_path(epoch, 'G_ema' if label == 'G' and use_ema else label) for label in labels}


def preset_file(name: str) -> str:
    if name not in preset_names():
        raise UserError(f'--preset {name}: choose one of {", ".join(preset_names())}')
    return presets()[name]


def resolve(source: str, which_epoch: str = 'latest', use_ema: bool = False, preset: Optional[str] = None,
            spec: Optional[ModelSpec] = None, revision: Optional[str] = None,
            arguments: Optional[Dict[str, Any]] = None, option: str = '--model') -> ResolvedModel:
    """The model at `source`: a run folder (`which_epoch`, `use_ema` choose its files), a model folder, an exported
    folder, or a Hub repository id ('owner/name', at `revision`; read from the Hugging Face cache when it is there,
    always with HF_HUB_OFFLINE=1). Released files come without a spec: `preset` names theirs (a method's presets/), or
    `spec` gives one (test.py builds it from its options). `arguments` give other sizes of the same architecture
    (ModelSpec.with_arguments). `option` is what gave `source`, for the error lines."""
    preset_path = preset_file(preset) if preset else None
    described = (read_spec_file(preset_path), preset_path) if preset_path else \
        (spec, 'the command line\'s options') if spec is not None else None
    if os.path.isdir(source) or described is not None:  # released files: the folder is named in any error on loading
        found = _resolve_folder(source, which_epoch, use_ema, described)
    elif HUB_ID.fullmatch(source) and not os.path.exists(source):
        folder = hub_snapshot(source, revision, option)  # its error also says that no such local folder exists
        if not os.path.isfile(os.path.join(folder, CONFIG_FILE)):
            raise UserError(f'{option} {source}: the Hub repository has no {CONFIG_FILE}: it is not a model converted '
                            'by scripts/convert_checkpoint.py')
        found = replace(_resolve_folder(folder, which_epoch, use_ema, None), name=source_name(source))
    else:
        raise UserError(f'{option} {source}: no such folder, and not a Hugging Face Hub repository id (owner/name)')
    return replace(found, spec=found.spec.with_arguments(**arguments)) if arguments else found


def _resolve_folder(folder: str, which_epoch: str, use_ema: bool,
                    described: Optional[Tuple[ModelSpec, str]]) -> ResolvedModel:
    name = source_name(folder)
    config = os.path.join(folder, CONFIG_FILE)
    if described is None and os.path.isfile(config):
        if use_ema or which_epoch != 'latest':
            raise UserError(f'{folder} is a model folder, which holds one generator (its {CONFIG_FILE} says which): '
                            '--which_epoch and --use_ema choose among the files of a run folder; drop them')
        spec = read_spec_file(config)
        exported = not os.path.isfile(os.path.join(folder, WEIGHT_FILES['G'])) and \
            os.path.isfile(os.path.join(folder, EXPORTED_FILES['G']))
        files = EXPORTED_FILES if exported else WEIGHT_FILES
        return ResolvedModel(spec,
                             {label: os.path.join(folder, files[label]) for label in spec.networks if label in files},
                             'exported' if exported else 'folder', folder, name, config)
    store = CheckpointStore(os.path.dirname(os.path.normpath(folder)) or '.',
                            os.path.basename(os.path.normpath(folder)))
    if described is not None:
        spec, spec_file = described
    elif os.path.isfile(store.networks_path()):
        spec, spec_file = read_spec_file(store.networks_path()), store.networks_path()
    elif os.path.isfile(store.path('opt.json')):
        spec_file = store.path('opt.json')
        spec = spec_from_saved_options(store.read_options(), spec_file)
    else:
        raise UserError(f'{folder} has neither {CONFIG_FILE} (a converted model, see scripts/convert_checkpoint.py) '
                        f'nor {NETWORKS_FILE} (a run folder of train.py): give a model trained here, or --preset '
                        f'{"|".join(preset_names())} for the released checkpoints in it')
    if spec.released_files:  # released files named as their own code writes them (OASIS: models/best_EMA.pth)
        if use_ema:
            raise UserError(f'--use_ema: the released generator of {spec_file} is already its average ('
                            f'{spec.released_files["G"]}); drop the option')
        files = {label: os.path.join(folder, pattern.replace('{epoch}', str(which_epoch)))
                 for label, pattern in spec.released_files.items()}
    else:
        files = run_weight_files(store, which_epoch, use_ema, ''.join(spec.networks))
    return ResolvedModel(spec, files, 'run', os.path.normpath(folder), name, spec_file, which_epoch)


def source_name(source: str) -> str:
    """What names a model given as `source` in output folders: the folder's or the Hub repository's last part."""
    return os.path.basename(os.path.normpath(source))


def hub_snapshot(repo_id: str, revision: Optional[str] = None, option: str = '--model') -> str:
    """The local folder of a Hub repository's model files: from the cache when it is there (always with
    HF_HUB_OFFLINE=1), else downloaded into it."""
    from huggingface_hub import constants, snapshot_download
    try:
        return snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES)
    except Exception as exc:  # offline and not cached, no such repository, no network: all end the same way
        raise UserError(f'{option} {repo_id}: no such local folder, and not in the Hugging Face cache '
                        f'({constants.HF_HUB_CACHE}) nor downloadable ({exception_reason(exc)}); on a machine '
                        f'with a network run `hf download {repo_id}` with the same HF_HOME, or pass a local model '
                        'folder') from None


def load_weights(networks: Mapping[str, Optional[torch.nn.Module]], model: ResolvedModel) -> List[str]:
    """Read each network's file of `model` into it, strictly (a file of another architecture is one line saying
    what differs); returns the files read. The one way weights are loaded: synthesis, conversion, resuming."""
    read = []
    for label, net in networks.items():
        if net is None:
            continue
        path = model.files[label]
        if not os.path.lexists(path):
            raise UserError(model.missing_file(label))
        load_strictly(net, path)
        read.append(path)
    return read
