"""Model folders: a trained model that can leave this repository.

    <folder>/config.json       the model spec (models.spec) of the generator and its style encoder
    <folder>/G.safetensors     the generator's state_dict (the averaged generator's when converted with --use_ema)
    <folder>/E.safetensors     the style encoder's (models trained with --use_vae)
    <folder>/README.md         the model card: architecture, dataset, classes, scores

scripts/convert_checkpoint.py writes them; `resolve_source` turns what --model takes (such a folder, a run folder
checkpoints/<name>, or a Hugging Face Hub repository id) into a local folder; `load_model_folder` rebuilds the
networks from config.json alone. The state_dicts keep the reference's parameter names, so G.safetensors holds the
same tensors as <epoch>_net_G.pth.
"""
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch

from util.checkpoint import NETWORKS_FILE, atomic_folder, atomic_save_safetensors, atomic_write_text, load_strictly
from util.errors import UserError, exception_reason
from .networks import BaseNetwork
from .spec import Spec, build_networks, check_spec, labels_of_spec

CONFIG_FILE = 'config.json'
WEIGHT_FILES = {'G': 'G.safetensors', 'E': 'E.safetensors'}
CARD_FILE = 'README.md'
HUB_FILES = [CONFIG_FILE, '*.safetensors', CARD_FILE]
HUB_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')  # owner/name


@dataclass(frozen=True)
class ModelSource:
    kind: str     # 'folder' (config.json and safetensors files) or 'run' (a training run's folder)
    folder: str   # where it is on this machine


def resolve_source(source: str, revision: Optional[str] = None) -> ModelSource:
    """A model folder, a run folder or a Hub repository id (downloaded into, or read from, the Hugging Face cache)."""
    if os.path.isdir(source):
        for filename, kind in ((CONFIG_FILE, 'folder'), (NETWORKS_FILE, 'run')):
            if os.path.isfile(os.path.join(source, filename)):
                return ModelSource(kind, source)
        raise UserError(f'--model {source}: the folder has neither {CONFIG_FILE} (a converted model, see '
                        f'scripts/convert_checkpoint.py) nor {NETWORKS_FILE} (a run folder checkpoints/<name>)')
    if HUB_ID.match(source) and not os.path.exists(source):
        folder = hub_snapshot(source, revision)  # its error also says that no such local folder exists
        if not os.path.isfile(os.path.join(folder, CONFIG_FILE)):
            raise UserError(f'--model {source}: the Hub repository has no {CONFIG_FILE}: it is not a model converted '
                            'by scripts/convert_checkpoint.py')
        return ModelSource('folder', folder)
    raise UserError(f'--model {source}: no such folder, and not a Hugging Face Hub repository id (owner/name)')


def source_name(source: str) -> str:
    """What names a model given as `source` in output folders: the folder's or the Hub repository's last part."""
    return os.path.basename(os.path.normpath(source))


def hub_snapshot(repo_id: str, revision: Optional[str] = None) -> str:
    """The local folder of a Hub repository's model files: from the cache when it is there (always with
    HF_HUB_OFFLINE=1), else downloaded into it."""
    from huggingface_hub import constants, snapshot_download
    try:
        return snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES)
    except Exception as exc:  # offline and not cached, no such repository, no network: all end the same way
        raise UserError(f'--model {repo_id}: no such local folder, and not in the Hugging Face cache '
                        f'({constants.HF_HUB_CACHE}) nor downloadable ({exception_reason(exc)}); on a machine '
                        f'with a network run `hf download {repo_id}` with the same HF_HOME, or pass a local model '
                        'folder') from None


def read_config(folder: str) -> Spec:
    path = os.path.join(folder, CONFIG_FILE)
    try:
        with open(path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as exc:
        raise UserError(f'{path} is not readable JSON ({exc}): restore the model folder') from None
    return check_spec(raw, path)


def load_model_folder(folder: str, device: torch.device = torch.device('cpu'),
                      runtime: Optional[Dict[str, Any]] = None) -> Tuple[Spec, Dict[str, Optional[BaseNetwork]], List[str]]:
    """(spec, {'G': generator, 'E': encoder or None}, the weight files read) of a model folder; eval mode."""
    spec = read_config(folder)
    networks = build_networks(spec, device, runtime, 'GE', source=os.path.join(folder, CONFIG_FILE))
    files = []
    for label, net in networks.items():
        if net is None:
            continue
        path = os.path.join(folder, WEIGHT_FILES[label])
        if not os.path.isfile(path):
            raise UserError(f'{folder} has no {WEIGHT_FILES[label]} ({CONFIG_FILE} describes a '
                            f'{"generator" if label == "G" else "style encoder"}): convert the model again')
        load_strictly(net, path).eval()
        files.append(path)
    return spec, networks, files


def folder_spec(spec: Spec, generator: str, source: str) -> Spec:
    """The spec of a model folder: the generator and encoder only (no discriminator), with where they came from."""
    networks = {label: spec['networks'][label] for label in WEIGHT_FILES if spec['networks'].get(label)}
    provenance = {**spec.get('provenance', {}), 'converted_from': source, 'generator_weights': generator}
    return {**spec, 'networks': networks, 'provenance': provenance}


def write_model_folder(out: str, spec: Spec, states: Dict[str, Dict[str, torch.Tensor]], card: str,
                       overwrite: bool = False) -> None:
    """config.json, the safetensors files and the card, written whole or not at all."""
    with atomic_folder(out, overwrite) as staging:
        write_config(staging, spec)
        atomic_save_safetensors({os.path.join(staging, WEIGHT_FILES[label]): state for label, state in states.items()},
                                {'format': 'pt', 'spec_format': spec['format']})
        atomic_write_text(os.path.join(staging, CARD_FILE), card)


def write_config(folder: str, spec: Spec) -> None:
    atomic_write_text(os.path.join(folder, CONFIG_FILE), json.dumps(spec, indent=1, sort_keys=True))


def model_card(spec: Spec, networks: Dict[str, Optional[torch.nn.Module]], metrics: Optional[Dict[str, Any]],
               repo_hint: str) -> str:
    """README.md of a model folder: what the model is, what it was trained on, how it scores, how to use it."""
    inputs, style, provenance = spec['inputs'], spec['style'], spec.get('provenance', {})
    labels = labels_of_spec(spec)
    generator = spec['networks']['G']
    width, height = networks['G'].output_size
    lines = ['---', 'library_name: pytorch', 'tags:', '- semantic-image-synthesis', '- cc-fpse', '- image-generation',
             'license: other', '---', '',
             f'# {generator["class"]} ({generator["name"]}) trained on {inputs["dataset_mode"]}', '',
             'A semantic image synthesis generator of the CC-FPSE code base ("Learning to Predict Layout-to-image '
             'Conditional Convolutions for Semantic Image Synthesis", Liu et al., NeurIPS 2019): a label map in, '
             f'a {width}x{height} image out.', '',
             '## Architecture', '',
             '| network | registered name | class | parameters |', '|---|---|---|---|']
    for label, net in networks.items():
        if net is not None:
            description = spec['networks'][label]
            lines.append(f'| {label} | {description["name"]} | {description["class"]} | '
                         f'{sum(p.numel() for p in net.parameters()):,} |')
    lines += ['', 'Constructor arguments (config.json holds them all):', '']
    lines += [f'- `{name}`: `{value}`' for name, value in sorted(generator['arguments'].items())]
    lines += ['', f'Style: {"a VAE style code of " + str(style["z_dim"]) + " dimensions (E.safetensors encodes photos)" if style["use_vae"] else "none (the label map alone decides the image)"}.',
              '', '## Training data', '',
              f'- dataset: `{inputs["dataset_mode"]}`' + (f' (run `{provenance["name"]}`, epoch {provenance.get("epoch")})'
                                                         if provenance.get('name') else ''),
              f'- generator weights: `{provenance.get("generator_weights", "G")}`',
              f'- inputs: {len(labels)} label channels' + ('' if inputs['no_instance'] else ' and an instance-edge channel'),
              '', '<details><summary>classes (label channel: name)</summary>', '',
              ', '.join(f'{i}: {name}' for i, name in enumerate(labels.names)), '', '</details>', '']
    lines += ['## Scores', '']
    if metrics:
        protocol = metrics.get('protocol', {})
        lines += ['| | FID | mIoU | accuracy |', '|---|---|---|---|']
        for name, row in (metrics.get('paper') or {}).items():
            lines.append(f'| {name} (paper) | {row["fid"]:.2f} | {row["miou"]:.2f} | {row["accuracy"]:.2f} |')
        lines.append(f'| this model | {metrics.get("fid", float("nan")):.2f} | {metrics["miou"]:.2f} | {metrics["accuracy"]:.2f} |')
        lines += ['', f'Protocol (`scripts/evaluate.py all`): segmenter `{protocol.get("segmenter")}` '
                      f'({protocol.get("segmenter_code")}), {protocol.get("image_count")} images at '
                      f'{protocol.get("evaluation_size")}; FID: {protocol.get("fid", "pytorch-fid")}.']
    else:
        lines.append('Not evaluated: `scripts/evaluate.py all` writes the metrics.json that a conversion puts here.')
    lines += ['', '## Use', '', '```python', 'from models.synthesizer import Synthesizer',
              f"synthesizer = Synthesizer.from_pretrained('{repo_hint}')", '```', '',
              '```bash', f'python scripts/synthesize.py --model {repo_hint} --labels my_maps/ --out out/', '```', '']
    return '\n'.join(lines)
