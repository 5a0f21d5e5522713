"""The synthesis API: label map (+ instance map) and a style -> image, with a trained generator.

test.py, scripts/synthesize.py, the trainer's evaluation and the demo all go through `Synthesizer`; Pix2PixModel
feeds its networks with the same pieces (models.inputs).

    synthesizer = Synthesizer.from_pretrained('checkpoints/quickstart')   # a run folder, a model folder or a Hub id
    label = read_label_map('my_map.png', synthesizer.labels, synthesizer.size)[None]   # data.label_maps
    images = synthesizer.generate(synthesizer.semantics(label), synthesizer.styles_from_seeds([0, 1]))

A model trained here is rebuilt from checkpoints/<name>/networks.json and its state_dicts alone, a converted one
from its config.json and safetensors files (models.pretrained); the authors' released checkpoints, which have
neither, load through options.synthesis_options.load_synthesizer and a preset.
Styles (models trained with --use_vae): a seed gives `torch.randn(z_dim)` from its own generator, so an image
depends on its seed alone; a style photo gives the encoder's mean. Without a VAE the generator takes no style.
"""
import os
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from data.classes import LabelSet
from util.checkpoint import CheckpointStore
from util.device import select_device
from util.errors import UserError
from .inputs import autocast, one_hot_semantics, reparameterize, seed_style
from .pretrained import load_model_folder, read_config, resolve_source
from .spec import Spec, build_networks, labels_of_spec, read_spec


class Synthesizer:
    """A trained generator (and its style encoder) with its spec, which says what its inputs are: the label set
    and whether it reads instance edges."""

    def __init__(self,
                 netG: torch.nn.Module,             # a generator of models.networks (or one exported, models.exported)
                 netE: Optional[torch.nn.Module],   # its style encoder (models trained with --use_vae), else None
                 spec: Spec,                        # the model's spec (models.spec)
                 device: torch.device = torch.device('cpu'),
                 amp: str = 'off',                  # mixed precision: off, bf16, fp16
                 checkpoint: str = '',              # the generator's file, named in errors
                 model_files: Sequence[str] = ()):  # the files its weights came from (G or G_ema, E)
        self.netG, self.netE, self.spec = netG, netE, spec
        self.labels: LabelSet = labels_of_spec(spec)
        self.reads_instances = not spec['inputs']['no_instance']
        self.device, self.amp, self.checkpoint, self.model_files = device, amp, checkpoint, list(model_files)

    @classmethod
    def from_model(cls, model: torch.nn.Module) -> 'Synthesizer':
        """The generator and encoder of a Pix2PixModel, in whatever mode they are."""
        return cls(model.netG, model.netE, model.spec, model.device, model.amp, model.loaded_from)

    @classmethod
    def from_pretrained(cls, source: str, which_epoch: str = 'latest', use_ema: bool = False, gpu_ids: str = '-1',
                        amp: str = 'off', revision: Optional[str] = None,
                        runtime: Optional[Dict[str, Any]] = None) -> 'Synthesizer':
        """A model from a model folder (config.json + G.safetensors, scripts/convert_checkpoint.py), a run folder
        (checkpoints/<name>: `which_epoch`, `use_ema` choose its files) or a Hugging Face Hub repository id
        ('owner/name', at `revision`; read from the local cache when it is there, always with HF_HUB_OFFLINE=1)."""
        found = resolve_source(source, revision)
        if found.kind == 'run':
            folder = os.path.normpath(found.folder)
            return cls.load(os.path.basename(folder), os.path.dirname(folder) or '.', which_epoch, gpu_ids, amp, use_ema)
        if use_ema or which_epoch != 'latest':
            raise UserError(f'{source} is a model folder, which holds one generator (its config.json says which): '
                            '--which_epoch and --use_ema choose among the files of a run folder; drop them')
        device = select_device(gpu_ids, announce=True)
        spec, networks, files = load_model_folder(found.folder, device, runtime)
        return cls(networks['G'], networks['E'], spec, device, amp, files[0], files)

    @classmethod
    def from_exported(cls, folder: str, gpu_ids: str = '-1') -> 'Synthesizer':
        """An exported model folder (scripts/export.py --format onnx: config.json, generator.onnx, encoder.onnx)
        run by onnxruntime."""
        from .exported import FILES, OnnxRuntimeEncoder, OnnxRuntimeGenerator
        spec = read_config(folder)
        device = select_device(gpu_ids, announce=True)
        files = [os.path.join(folder, FILES[label] + '.onnx') for label in ('G', 'E')[:1 + spec['style']['use_vae']]]
        netG = OnnxRuntimeGenerator(files[0], device, spec)
        netE = OnnxRuntimeEncoder(files[1], device) if len(files) > 1 else None
        return cls(netG, netE, spec, device, 'off', files[0], files)

    @classmethod
    def from_spec(cls, spec: Dict[str, Any], store: CheckpointStore, which_epoch: str = 'latest',
                  use_ema: bool = False, gpu_ids: str = '-1', amp: str = 'off',
                  runtime: Optional[Dict[str, Any]] = None) -> 'Synthesizer':
        """G (or G_ema with `use_ema`) and E of a model spec (models.spec), loaded from `store`'s `which_epoch`;
        eval mode. The one way test.py, synthesize.py, the demo and the evaluation scripts build a model.
        `gpu_ids` '0' for the first GPU (the CPU when there is none)."""
        device = select_device(gpu_ids, announce=True)
        networks = build_networks(spec, device, runtime, 'GE', source=store.networks_path())
        return cls.from_networks(networks, store, which_epoch, use_ema, spec, device, amp)

    @classmethod
    def load(cls, name: str, checkpoints_dir: str = './checkpoints', which_epoch: str = 'latest',
             gpu_ids: str = '-1', amp: str = 'off', use_ema: bool = False) -> 'Synthesizer':
        """A model trained here, rebuilt from checkpoints/<name>/networks.json (its spec) and its checkpoints: no
        options, no training code."""
        store = CheckpointStore(checkpoints_dir, name)
        spec = read_spec(store)
        if spec is None:
            raise UserError(f'{store.networks_path()} does not exist: give --name of a model trained here (its '
                            'folder has networks.json), or a --preset for the authors\' released checkpoints')
        return cls.from_spec(spec, store, which_epoch, use_ema, gpu_ids, amp)

    @classmethod
    def from_networks(cls, networks: Dict[str, Optional[torch.nn.Module]], store: CheckpointStore, which_epoch: str,
                      use_ema: bool, spec: Spec, device: torch.device, amp: str) -> 'Synthesizer':
        """Load G (or G_ema) and E of `which_epoch` into `networks` from `store`; eval mode."""
        generator = 'G_ema' if use_ema else 'G'
        store.load_network(networks['G'], generator, which_epoch)
        if networks['E'] is not None:
            store.load_network(networks['E'], 'E', which_epoch)
        for net in networks.values():
            if net is not None:
                net.eval()
        files = [store.network_path(which_epoch, generator)]
        files += [store.network_path(which_epoch, 'E')] if networks['E'] is not None else []
        return cls(networks['G'], networks['E'], spec, device, amp, files[0], files)

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height) of the generated images."""
        return self.netG.output_size

    @property
    def output_nc(self) -> int:
        """Channels of the generated images (and of the style photos the encoder reads)."""
        return self.spec['networks']['G']['arguments'].get('output_nc', 3)

    @property
    def uses_style(self) -> bool:
        return self.netE is not None

    def semantics(self, label: torch.Tensor, instance: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The generator's input for (N, 1, H, W) label maps of channel ids. A model that reads instance edges
        takes them from `instance`, or from the label map itself when there is none (region boundaries)."""
        label = label.to(self.device)
        if not self.reads_instances:
            return one_hot_semantics(label, None, len(self.labels))
        return one_hot_semantics(label, (label if instance is None else instance).to(self.device), len(self.labels))

    def encode(self, photo: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the style encoder for (N, C, H, W) photos in [-1, 1]."""
        if self.netE is None:
            raise UserError(f'{self.checkpoint}: the model was trained without --use_vae, so it takes no style')
        with torch.no_grad(), autocast(self.device, self.amp):
            return self.netE(photo.to(self.device))

    def style_from_photo(self, photo: torch.Tensor) -> torch.Tensor:
        """The deterministic style of photos: the encoder's mean."""
        return self.encode(photo)[0].float()

    def styles_from_seeds(self, seeds: Sequence[int]) -> torch.Tensor:
        return torch.stack([seed_style(seed, self.netG.z_dim) for seed in seeds]).to(self.device)

    def generate(self, semantics: torch.Tensor, z: Optional[torch.Tensor] = None,
                 check_finite: bool = True) -> torch.Tensor:
        """Images in [-1, 1] for the generator input `semantics` and style codes `z` (one per image; None
        without a VAE, or to draw them from the global RNG)."""
        with torch.no_grad(), autocast(self.device, self.amp):
            images = self.netG(semantics, z=z).float()
        if check_finite and not torch.isfinite(images).all():
            raise UserError(f'{self.checkpoint} generates non-finite pixels: the checkpoint is broken (a diverged '
                            'run?); use another --which_epoch')
        return images

    def synthesize_batch(self, batch: Dict[str, Any], check_finite: bool = True) -> torch.Tensor:
        """A dataset batch as the paper evaluates it: with a VAE, each image's style is sampled from the encoder's
        posterior for its real photo (global RNG)."""
        instance = batch['instance'] if self.reads_instances else None
        semantics = one_hot_semantics(batch['label'].to(self.device),
                                      None if instance is None else instance.to(self.device), len(self.labels))
        z = None
        if self.uses_style:
            with autocast(self.device, self.amp):
                z = reparameterize(*self.encode(batch['image']))
        return self.generate(semantics, z, check_finite)
