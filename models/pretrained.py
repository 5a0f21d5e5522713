"""Model folders: a trained model that can leave this repository.

    <folder>/config.json       the model spec (models.spec) of the generator and its style encoder
    <folder>/G.safetensors     the generator's state_dict (the averaged generator's when converted with --use_ema)
    <folder>/E.safetensors     the style encoder's (models trained with --use_vae)
    <folder>/README.md         the model card: architecture, dataset, classes, scores

Synthesizer.save_pretrained (and scripts/convert_checkpoint.py through it) writes them; models.sources finds and
reads them. The state_dicts keep the reference's parameter names, so G.safetensors holds the same tensors as
<epoch>_net_G.pth.
"""
import os
from typing import Any, Dict, Optional

import torch

from util.atomic import atomic_folder, atomic_write_text
from util.checkpoint import atomic_save_safetensors
from .method_registry import method
from .sources import CONFIG_FILE, WEIGHT_FILES
from .spec import ModelSpec

CARD_FILE = 'README.md'


def write_model_folder(out: str, spec: ModelSpec, states: Dict[str, Dict[str, torch.Tensor]], card: str,
                       overwrite: bool = False) -> None:
    """config.json, the safetensors files and the card, written whole or not at all."""
    with atomic_folder(out, overwrite) as staging:
        atomic_write_text(os.path.join(staging, CONFIG_FILE), spec.to_text())
        # One metadata entry: safetensors writes several in a hash map's order, which differs from save to save.
        atomic_save_safetensors({os.path.join(staging, WEIGHT_FILES[label]): state for label, state in states.items()},
                                {'format': 'pt'})
        atomic_write_text(os.path.join(staging, CARD_FILE), card)


def model_card(spec: ModelSpec, networks: Dict[str, Optional[torch.nn.Module]], metrics: Optional[Dict[str, Any]],
               repo_hint: str) -> str:
    """README.md of a model folder: what the model is, what it was trained on, how it scores, how to use it."""
    inputs, provenance = spec.inputs, spec.provenance
    labels = spec.labels
    generator = spec.generator
    width, height = networks['G'].output_size
    trained = method(spec.method, str(CONFIG_FILE))
    if spec.use_vae:
        style = f'a VAE style code of {spec.z_dim} dimensions (E.safetensors encodes photos; a seed draws one)'
    elif spec.noise:
        style = f'{spec.z_dim} dimensions, {trained.code_note or "a noise code: each seed gives another image"}'
    elif trained.synthesis is not None:
        style = trained.code_note
    else:
        style = 'none (the label map alone decides the image)'
    lines = ['---', 'library_name: pytorch', 'tags:', '- semantic-image-synthesis', f'- {trained.name}',
             f'- {generator.name}', '- image-generation', 'license: other', '---', '',
             f'# {generator.cls} ({generator.name}) trained on {inputs.dataset_mode}', '',
             f'A semantic image synthesis generator (method `{trained.name}`) of {trained.paper(generator.name)}, '
             f'as this code base implements it: a label map in, a {width}x{height} image out.', '',
             '## Architecture', '',
             '| network | registered name | class | parameters |', '|---|---|---|---|']
    for label, net in networks.items():
        if net is not None:
            description = spec.networks[label]
            lines.append(f'| {label} | {description.name} | {description.cls} | '
                         f'{sum(p.numel() for p in net.parameters()):,} |')
    lines += ['', 'Constructor arguments (config.json holds them all):', '']
    lines += [f'- `{name}`: `{value}`' for name, value in sorted(generator.arguments.items())]
    lines += ['', f'Code z: {style}.', '', '## Training data', '',
              f'- dataset: `{inputs.dataset_mode}`' + (f' (run `{provenance["name"]}`, epoch {provenance.get("epoch")})'
                                                         if provenance.get('name') else ''),
              f'- generator weights: `{provenance.get("generator_weights", "G")}`',
              f'- inputs: {len(labels)} label channels'
              + ('' if inputs.no_instance else ' and an instance-edge channel'),
              '', '<details><summary>classes (label channel: name)</summary>', '',
              ', '.join(f'{i}: {name}' for i, name in enumerate(labels.names)), '', '</details>', '']
    lines += ['## Scores', '']
    if metrics:
        protocol = metrics.get('protocol', {})
        lines += ['| | FID | mIoU | accuracy |', '|---|---|---|---|']
        for name, row in (metrics.get('paper') or {}).items():
            lines.append(f'| {name} (paper) | {row["fid"]:.2f} | {row["miou"]:.2f} | {row["accuracy"]:.2f} |')
        lines.append(f'| this model | {metrics.get("fid", float("nan")):.2f} | {metrics["miou"]:.2f} | '
                     f'{metrics["accuracy"]:.2f} |')
        lines += ['', f'Protocol (`scripts/evaluate.py all`): segmenter `{protocol.get("segmenter")}` '
                      f'({protocol.get("segmenter_code")}), {protocol.get("image_count")} images at '
                      f'{protocol.get("evaluation_size")}; FID: {protocol.get("fid", "pytorch-fid")}.']
    else:
        lines.append('Not evaluated: `scripts/evaluate.py all` writes the metrics.json that a conversion puts here.')
    lines += ['', '## Use', '', '```python', 'from models.synthesizer import Synthesizer',
              f"synthesizer = Synthesizer.from_pretrained('{repo_hint}')", '```', '',
              '```bash', f'python scripts/synthesize.py --model {repo_hint} --labels my_maps/ --out out/', '```', '']
    return '\n'.join(lines)
