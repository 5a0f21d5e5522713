"""The synthesis API: label map (+ instance map) and a style -> image, with a trained generator.

    synthesizer = Synthesizer.from_pretrained('checkpoints/quickstart')   # a run folder, a model folder or a Hub id
    label = read_label_map('my_map.png', synthesizer.labels, synthesizer.size)   # data.label_maps
    images = synthesizer.generate(synthesizer.semantics(label), synthesizer.styles_from_seeds([0, 1]))

`from_pretrained` is the one way to a trained generator from saved files (models.sources resolves the source and
loads the weights); test.py, scripts/synthesize.py, the demo, the converters, the benchmark and torch.hub all go
through it, and the trainer's evaluation builds a Synthesizer around its own networks. `save_pretrained` writes a
model folder (config.json, safetensors, a model card) that `from_pretrained` reads back.
Styles: a seed gives `torch.randn(z_dim)` from its own generator, so an image depends on its seed alone: a VAE style
(models trained with --use_vae, where a style photo gives the encoder's mean instead) or OASIS's noise code, which
`region_codes` draws for some classes only (restyling them). Other generators take no style.
"""
import copy
import sys
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch

from data.classes import LabelSet
from util.device import select_device
from util.errors import UserError
from util.threads import follow_fair_share
from .budget import check_memory
from .inputs import autocast, model_input, reparameterize, seed_style
from .method_registry import method
from .pretrained import model_card, write_model_folder
from .sources import ResolvedModel, load_weights, resolve
from .spec import ModelSpec, build_networks

BACKENDS = ('pytorch', 'onnxruntime')


def warn_of_a_young_average(model: ResolvedModel) -> None:
    """One line when the generator is a moving average that has had fewer updates than its decay needs to forget
    its start (about 1 / (1 - decay)): its images are then mostly the untrained network's (grey, blurred)."""
    provenance = model.spec.provenance
    average = provenance.get('average')
    is_average = model.is_run_average or provenance.get('generator_weights') == 'G_ema'
    # networks.json records the average of its last save: the count is known for that epoch only
    same_epoch = model.kind != 'run' or model.epoch in ('latest', str(provenance.get('epoch')))
    if not (is_average and isinstance(average, dict) and same_epoch):
        return
    decay, updates = float(average.get('decay', 0)), int(average.get('updates', 0))
    needed = round(1 / (1 - decay)) if 0 < decay < 1 else 0
    if updates < needed:
        print(f'warning: the average (--use_ema) of {model.name} has had {updates} updates, fewer than its decay '
              f'{decay} needs (about {needed}): its images are mostly the untrained network\'s; drop --use_ema, or '
              'train longer or with a smaller --ema_decay', file=sys.stderr)


class Synthesizer:
    """A trained generator (and its style encoder) with its spec, which says what its inputs are: the label set
    and whether it reads instance edges."""

    def __init__(self,
                 netG: torch.nn.Module,             # a generator of models.networks (or one exported, models.exported)
                 netE: Optional[torch.nn.Module],   # its style encoder (models trained with --use_vae), else None
                 spec: ModelSpec,                   # its spec (models.spec; ModelSpec.describe for new networks)
                 device: torch.device = torch.device('cpu'),
                 amp: str = 'off',                  # mixed precision: off, bf16, fp16
                 model_files: Sequence[str] = (),   # the files its weights came from (G or G_ema, E)
                 sampling: Optional[Mapping[str, Any]] = None):  # a sampler's settings (SDM: sampler, steps,
                                                                 # guidance, eta, progress)
        self.netG, self.netE, self.spec = netG, netE, spec
        self.labels: LabelSet = spec.labels
        self.device, self.amp, self.model_files = device, amp, list(model_files)
        self.checkpoint = self.model_files[0] if self.model_files else f'the {type(netG).__name__} built in Python'
        self.uses_sampler = spec.samples  # a loop of network calls, whose code is each image's seed
        self.sampling: Dict[str, Any] = {}
        self._set_sampling(dict(sampling or {}))

    def _set_sampling(self, sampling: Dict[str, Any]) -> None:
        """How the generator makes images: one call, or the method's sampler with `sampling` (a diffusion model's)."""
        if not self.uses_sampler and sampling:
            raise UserError(f'{", ".join(sorted(sampling))}: a {self.spec.method} model makes its images in one '
                            'pass; sampler settings are for diffusion models (--model sdm)')
        self.sampling = sampling
        self.run = method(self.spec.method).synthesis(self.netG, **sampling) if self.uses_sampler else \
            (lambda semantics, z: self.netG(semantics, z=z))

    def with_sampling(self, **changes: Any) -> 'Synthesizer':
        """The same networks with other sampler settings (a diffusion model's: sampler, steps, guidance, ...)."""
        other = copy.copy(self)
        other._set_sampling({**self.sampling, **changes})
        return other

    @classmethod
    def from_pretrained(cls, source: Union[str, ResolvedModel], which_epoch: str = 'latest', use_ema: bool = False,
                        preset: Optional[str] = None, spec: Optional[ModelSpec] = None, gpu_ids: str = '-1',
                        amp: str = 'off', revision: Optional[str] = None, runtime: Optional[Dict[str, Any]] = None,
                        arguments: Optional[Dict[str, Any]] = None, backend: str = 'pytorch',
                        memory_budget: Optional[float] = None,
                        sampling: Optional[Mapping[str, Any]] = None) -> 'Synthesizer':
        """The generator (and encoder) of `source`, in eval mode: a run folder (checkpoints/<name>: `which_epoch`,
        `use_ema` choose its files; released files come without a spec: `preset` names theirs (a method's presets/), or
        `spec` gives one), a model folder (scripts/convert_checkpoint.py, `save_pretrained`), an exported folder
        (`backend='onnxruntime'`), a Hugging Face Hub id ('owner/name' at `revision`), or what models.sources.resolve
        found. `gpu_ids` '0' for the first GPU (the CPU when there is none); `runtime`: how the networks compute
        (models.networks.RUNTIME_ARGUMENTS); `arguments`: other sizes of the architecture (ModelSpec.with_arguments);
        `memory_budget`: GB a model beyond the published sizes may take (models.budget; None: the machine's);
        `sampling`: a diffusion model's sampler settings (models.methods.sdm.sampling)."""
        model = source if isinstance(source, ResolvedModel) else \
            resolve(source, which_epoch, use_ema, preset, spec, revision, arguments)
        if backend not in BACKENDS:
            raise UserError(f'backend {backend!r}: choose one of {", ".join(BACKENDS)}')
        if (backend == 'onnxruntime') != (model.kind == 'exported'):
            raise UserError(f'{model.folder} is an exported folder (ONNX files): synthesize.py --backend onnxruntime '
                            'runs it; elsewhere give the model folder it was exported from' if model.kind == 'exported'
                            else f'--backend onnxruntime runs an exported folder (scripts/export.py); {model.folder} '
                                 'is not one')
        device = select_device(gpu_ids, announce=True)
        spec = model.spec.with_networks('GE')
        if backend == 'onnxruntime':
            from .exported import OnnxRuntimeEncoder, OnnxRuntimeGenerator
            networks = {'G': OnnxRuntimeGenerator(model.files['G'], device, spec),
                        'E': OnnxRuntimeEncoder(model.files['E'], device) if 'E' in spec.networks else None}
            files = [model.files[label] for label in spec.networks]
        else:
            check_memory(spec, device, memory_budget, model.spec_file)
            networks = build_networks(spec, device, runtime, 'GE', source=model.spec_file)
            files = load_weights(networks, model)
            for net in networks.values():
                if net is not None:
                    net.eval()
                    if hasattr(net, 'prepare_for_inference'):  # a layout faster for synthesis (SDM's, on the CPU)
                        net.prepare_for_inference(device)
        warn_of_a_young_average(model)
        return cls(networks['G'], networks['E'], spec, device, amp, files, sampling)

    def save_pretrained(self, folder: str, overwrite: bool = False, provenance: Optional[Mapping[str, Any]] = None,
                        metrics: Optional[Dict[str, Any]] = None, repo_hint: Optional[str] = None) -> None:
        """A model folder that `from_pretrained` reads: config.json (the spec of G and E, `provenance` added),
        G.safetensors (+ E.safetensors) holding exactly the networks' state_dicts, and a README.md model card
        (with `metrics` of `scripts/evaluate.py all` when given). Written whole or not at all; an existing folder
        only with `overwrite`."""
        if not isinstance(self.netG, torch.nn.Module):
            raise UserError(f'{self.checkpoint} is an exported graph: save the PyTorch model it was exported from')
        spec = self.spec.with_networks('GE').with_provenance(**(provenance or {}))
        networks = {'G': self.netG, 'E': self.netE}
        states = {label: net.state_dict() for label, net in networks.items() if net is not None}
        write_model_folder(folder, spec, states, model_card(spec, networks, metrics, repo_hint or folder), overwrite)

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height) of the generated images."""
        return self.netG.output_size

    @property
    def output_nc(self) -> int:
        """Channels of the generated images (and of the style photos the encoder reads)."""
        return self.spec.output_nc

    @property
    def takes_code(self) -> bool:
        """Whether the generator takes a code z: a VAE style (seeds or a photo), a noise code (OASIS: seeds), or a
        sampler's seed (SDM)."""
        return self.spec.takes_code

    @property
    def encodes_photos(self) -> bool:
        """Whether a photo can give the style (a style encoder, models trained with --use_vae)."""
        return self.netE is not None

    @property
    def reads_instances(self) -> bool:
        return self.spec.reads_instances

    def semantics(self, label: torch.Tensor, instance: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The generator's input for label maps of channel ids, (N, 1, H, W) or one (1, H, W) as
        data.label_maps.read_label_map gives it. A model that reads instance edges takes them from `instance`, or
        from the label map itself when there is none (region boundaries)."""
        if label.dim() == 3:
            label, instance = label[None], None if instance is None else instance[None]
        if label.dim() != 4 or label.shape[1] != 1:
            raise UserError(f'semantics: a label map is (1, H, W) or a batch (N, 1, H, W) of channel ids, not '
                            f'{tuple(label.shape)}')
        return model_input(self.spec, label, instance, self.device)

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
        if self.uses_sampler:  # a sampler's code is its seed
            return self.run.codes_from_seeds(seeds).to(self.device)
        return torch.stack([seed_style(seed, self.netG.z_dim) for seed in seeds]).to(self.device)

    def check_restyling(self) -> None:
        if not self.spec.noise:
            raise UserError(f'{self.checkpoint}: restyling a class needs a generator with a noise code per pixel '
                            '(OASIS\'s); this one has none')

    def region_codes(self, label: torch.Tensor, base: torch.Tensor, restyled: torch.Tensor,
                     channels: Sequence[int]) -> torch.Tensor:
        """(N, z_dim, H, W) noise codes for label maps `label` ((N, 1, H, W) or (1, H, W) channel ids): `base`
        (N, z_dim) everywhere except on the pixels of `channels`, which take `restyled` (N, z_dim): those classes
        restyled, the rest as it was where the network allows (its convolutions let a region's code reach a few
        pixels beyond it). Generators with a noise code only (OASIS's); the public code has this as a snippet in its
        issue #25."""
        self.check_restyling()
        label = (label if label.dim() == 4 else label[None]).to(self.device)
        inside = torch.isin(label, torch.as_tensor(list(channels), device=self.device))
        return torch.where(inside, restyled[:, :, None, None].to(self.device), base[:, :, None, None].to(self.device))

    def generate(self, semantics: torch.Tensor, z: Optional[torch.Tensor] = None,
                 check_finite: bool = True) -> torch.Tensor:
        """Images in [-1, 1] for the generator input `semantics` and codes `z` (one per image, (N, z_dim); per pixel
        from region_codes; None without a code, or to draw them from the global RNG)."""
        follow_fair_share()
        with torch.no_grad(), autocast(self.device, self.amp):
            images = self.run(semantics, z).float()
        if check_finite and not torch.isfinite(images).all():
            raise UserError(f'{self.checkpoint} generates non-finite pixels: the checkpoint is broken (a diverged '
                            'run?); use another --which_epoch')
        return images

    def synthesize_batch(self, batch: Dict[str, Any], check_finite: bool = True) -> torch.Tensor:
        """A dataset batch as the paper evaluates it: with a VAE, each image's style is sampled from the encoder's
        posterior for its real photo; a generator with a noise code draws it (both from the global RNG)."""
        semantics = model_input(self.spec, batch['label'], batch['instance'], self.device)
        z = None
        if self.encodes_photos:
            with autocast(self.device, self.amp):
                z = reparameterize(*self.encode(batch['image']))
        return self.generate(semantics, z, check_finite)
