"""The synthesis API: label map (+ instance map) and a style -> image, with a trained generator.

test.py, scripts/synthesize.py, the trainer's evaluation and the demo all go through `Synthesizer`; Pix2PixModel
uses the same pieces (`one_hot_semantics`, `reparameterize`, `autocast`).

    synthesizer = Synthesizer.load('coco_best', which_epoch='100', preset='coco')
    label = read_label_map('my_map.png', synthesizer.labels, synthesizer.size)[None]   # data.label_maps
    images = synthesizer.generate(synthesizer.semantics(label), synthesizer.styles_from_seeds([0, 1]))

Styles (models trained with --use_vae): a seed gives `torch.randn(z_dim)` from its own generator, so an image
depends on its seed alone, not on the other images of the batch; a style photo gives the encoder's mean. Without
a VAE the generator takes no style.
"""
import argparse
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from data.classes import LabelSet, label_set
from util.checkpoint import CheckpointStore
from util.errors import UserError

# The architecture options of released checkpoints, which come without an options file: the CC-FPSE authors'
# test scripts (test_coco.sh, test_ade.sh, test_cityscapes.sh, all with the VAE encoder) and NVlabs/SPADE's
# coco_pretrained, ade20k_pretrained and cityscapes_pretrained (no encoder).
PRESETS: Dict[str, List[str]] = {
    'coco': ['--dataset_mode', 'coco', '--netG', 'condconv', '--use_vae'],
    'ade20k': ['--dataset_mode', 'ade20k', '--netG', 'condconv', '--use_vae'],
    'cityscapes': ['--dataset_mode', 'cityscapes', '--netG', 'condconv', '--use_vae'],
    'spade_coco': ['--dataset_mode', 'coco', '--netG', 'spade'],
    'spade_ade20k': ['--dataset_mode', 'ade20k', '--netG', 'spade'],
    'spade_cityscapes': ['--dataset_mode', 'cityscapes', '--netG', 'spade'],
}
AMP_DTYPES = {'off': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def autocast(device: torch.device, amp: str):
    """Mixed precision for `--amp bf16|fp16`; float32 (the faithful numbers) for `off`."""
    dtype = AMP_DTYPES[amp]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def instance_edges(instance: torch.Tensor) -> torch.Tensor:
    """1 where a pixel differs from a 4-neighbour in the instance map, else 0."""
    edge = torch.zeros_like(instance, dtype=torch.bool)
    horizontal = instance[:, :, :, 1:] != instance[:, :, :, :-1]
    vertical = instance[:, :, 1:, :] != instance[:, :, :-1, :]
    edge[:, :, :, 1:] |= horizontal
    edge[:, :, :, :-1] |= horizontal
    edge[:, :, 1:, :] |= vertical
    edge[:, :, :-1, :] |= vertical
    return edge.float()


def one_hot_semantics(label: torch.Tensor, instance: Optional[torch.Tensor], opt: argparse.Namespace) -> torch.Tensor:
    """The generator's input: the one-hot label map (N, num_labels, H, W), plus the instance edge map when the
    model reads one (`instance` None: none is added). `label` holds channel ids (N, 1, H, W)."""
    label = label.long()
    low, high = torch.aminmax(label)
    if low < 0 or high >= opt.num_labels:
        bad = int(high) if high >= opt.num_labels else int(low)
        raise UserError(f'label id {bad} is outside 0..{opt.num_labels - 1} (--label_nc {opt.label_nc}'
                        f'{" with --contain_dontcare_label" if opt.contain_dontcare_label else ""}): '
                        f'set --label_nc to the number of classes or add --contain_dontcare_label')
    bs, _, h, w = label.shape
    semantics = torch.zeros(bs, opt.num_labels, h, w, device=label.device).scatter_(1, label, 1.0)
    if instance is None:
        return semantics
    return torch.cat((semantics, instance_edges(instance)), dim=1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A sample of N(mu, exp(logvar)), drawn from the global RNG (as the reference)."""
    std = torch.exp(0.5 * logvar)
    return torch.randn_like(std) * std + mu


def seed_style(seed: int, z_dim: int) -> torch.Tensor:
    """The style code of a seed: (z_dim,) standard normal from a generator of its own."""
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))


def parse_seeds(text: str) -> List[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    seeds = []
    try:
        for part in text.split(','):
            first, _, last = part.strip().partition('-')
            seeds.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise UserError(f'--seeds {text}: give seeds as numbers and ranges, e.g. 0-3,7') from None
    if not seeds or min(seeds) < 0:
        raise UserError(f'--seeds {text}: give seeds as numbers and ranges of non-negative numbers, e.g. 0-3,7')
    return seeds


def add_model_arguments(parser) -> None:
    """The command-line options that choose a trained model, shared by the scripts that synthesize."""
    parser.add_argument('--name', required=True, help='experiment name: checkpoints/<name>/<which_epoch>_net_G.pth')
    parser.add_argument('--checkpoints_dir', default='./checkpoints')
    parser.add_argument('--which_epoch', default='latest')
    parser.add_argument('--preset', choices=sorted(PRESETS), default=None,
                        help="the architecture of released checkpoints (which come without opt.json)")
    parser.add_argument('--use_ema', action='store_true', help='use the moving-average generator <epoch>_net_G_ema.pth')
    parser.add_argument('--gpu_ids', default='0', help='GPU to use; -1 for the CPU (the CPU is used when no GPU is present)')
    parser.add_argument('--amp', default='off', choices=list(AMP_DTYPES), help='mixed precision')


class Synthesizer:
    """A trained generator (and its style encoder) with the options that describe its inputs."""

    def __init__(self, opt: argparse.Namespace, netG: torch.nn.Module, netE: Optional[torch.nn.Module],
                 device: torch.device):
        self.opt, self.netG, self.netE, self.device = opt, netG, netE, device

    @classmethod
    def from_model(cls, model: torch.nn.Module) -> 'Synthesizer':
        """The generator and encoder of a Pix2PixModel, in whatever mode they are."""
        return cls(model.opt, model.netG, model.netE, model.device)

    @classmethod
    def from_options(cls, opt: argparse.Namespace) -> 'Synthesizer':
        """Load G (or G_ema with --use_ema) and E of --name/--which_epoch, as test.py does; eval mode."""
        from models.pix2pix_model import Pix2PixModel  # which imports this module's functions
        return cls.from_model(Pix2PixModel(opt).eval())

    @classmethod
    def load(cls, name: str, checkpoints_dir: str = './checkpoints', which_epoch: str = 'latest',
             preset: Optional[str] = None, options: Sequence[str] = ()) -> 'Synthesizer':
        """Load a trained model: its architecture comes from checkpoints/<name>/opt.json, or from `preset`
        ('coco', 'ade20k', 'cityscapes') for the authors' released checkpoints. `options`: more test options,
        e.g. ['--gpu_ids', '0', '--amp', 'bf16']."""
        from options.test_options import TestOptions
        args = ['--name', name, '--checkpoints_dir', checkpoints_dir, '--which_epoch', which_epoch, *options]
        store = CheckpointStore(checkpoints_dir, name)
        if preset is not None:
            if preset not in PRESETS:
                raise UserError(f'--preset {preset}: choose one of {", ".join(PRESETS)}')
            args += PRESETS[preset]
        elif not store.read_options():
            raise UserError(f'{store.path("opt.json")} does not exist: give --name of a model trained here, or '
                            f'--preset {"|".join(PRESETS)} for the authors\' released checkpoints')
        return cls.from_options(TestOptions().parse(args, quiet=True))

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> 'Synthesizer':
        """The model chosen by the options of add_model_arguments."""
        options = ['--gpu_ids', args.gpu_ids, '--amp', args.amp] + (['--use_ema'] if args.use_ema else [])
        return cls.load(args.name, args.checkpoints_dir, args.which_epoch, args.preset, options)

    @property
    def labels(self) -> LabelSet:
        return label_set(self.opt.dataset_mode, self.opt.label_nc, self.opt.contain_dontcare_label)

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height) of the generated images."""
        return self.opt.crop_size, round(self.opt.crop_size / self.opt.aspect_ratio)

    @property
    def uses_style(self) -> bool:
        return self.opt.use_vae

    @property
    def checkpoint(self) -> str:
        return CheckpointStore.of(self.opt).network_path(self.opt.which_epoch, 'G')

    def semantics(self, label: torch.Tensor, instance: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The generator's input for (N, 1, H, W) label maps of channel ids. A model that reads instance edges
        takes them from `instance`, or from the label map itself when there is none (region boundaries)."""
        label = label.to(self.device)
        if self.opt.no_instance:
            return one_hot_semantics(label, None, self.opt)
        return one_hot_semantics(label, (label if instance is None else instance).to(self.device), self.opt)

    def encode(self, photo: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the style encoder for (N, C, H, W) photos in [-1, 1]."""
        if self.netE is None:
            raise UserError(f'{self.checkpoint}: the model was trained without --use_vae, so it takes no style')
        with torch.no_grad(), autocast(self.device, self.opt.amp):
            return self.netE(photo.to(self.device))

    def style_from_photo(self, photo: torch.Tensor) -> torch.Tensor:
        """The deterministic style of photos: the encoder's mean."""
        return self.encode(photo)[0].float()

    def styles_from_seeds(self, seeds: Sequence[int]) -> torch.Tensor:
        return torch.stack([seed_style(seed, self.opt.z_dim) for seed in seeds]).to(self.device)

    def generate(self, semantics: torch.Tensor, z: Optional[torch.Tensor] = None,
                 check_finite: bool = True) -> torch.Tensor:
        """Images in [-1, 1] for the generator input `semantics` and style codes `z` (one per image; None
        without a VAE, or to draw them from the global RNG)."""
        with torch.no_grad(), autocast(self.device, self.opt.amp):
            images = self.netG(semantics, z=z).float()
        if check_finite and not torch.isfinite(images).all():
            raise UserError(f'{self.checkpoint} generates non-finite pixels: the checkpoint is broken (a diverged '
                            'run?); use another --which_epoch')
        return images

    def synthesize_batch(self, batch: Dict, check_finite: bool = True) -> torch.Tensor:
        """A dataset batch as the paper evaluates it: with a VAE, each image's style is sampled from the encoder's
        posterior for its real photo (global RNG)."""
        instance = None if self.opt.no_instance else batch['instance']
        semantics = one_hot_semantics(batch['label'].to(self.device),
                                      None if instance is None else instance.to(self.device), self.opt)
        z = None
        if self.uses_style:
            with autocast(self.device, self.opt.amp):
                z = reparameterize(*self.encode(batch['image']))
        return self.generate(semantics, z, check_finite)
