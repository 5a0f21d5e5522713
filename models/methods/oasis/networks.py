"""OASIS's networks (`--netG oasis`, `--netD oasis`; Schönfeld, Sushko et al., "You Only Need Adversarial
Supervision for Semantic Image Synthesis", ICLR 2021), equal to boschresearch/OASIS's and with its checkpoint names:

- the generator: SPADE residual blocks (those of SPADE's generator) reading the label map together with a 64-d
  noise code replicated over the image ("3D noise"), starting from the label map (and noise) downsampled, no VAE;
- the discriminator: a U-Net that segments the image alone into the N classes plus "fake" (N + 1 outputs per
  pixel); the label map conditions it through the loss (models.methods.oasis.objective).
"""
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from util.errors import UserError
from util.util import image_size
from models.networks.architecture import SPADEResnetBlock
from models.networks.base_network import BaseNetwork
from models.networks.registry import register

# Widths of the generator's image branch in multiples of --ngf (OASIS's channels_G), from the first block's input.
GENERATOR_WIDTHS = (16, 16, 16, 8, 4, 2, 1)
# The discriminator's widths after its input in multiples of --ndf: the public code fixes them at 128 ... 512 and
# 64 for the last block (its channels_D option, 64, is never read), which --ndf 64 gives.
DISCRIMINATOR_WIDTHS = (2, 2, 4, 4, 8, 8)
NUM_RES_BLOCKS = len(GENERATOR_WIDTHS) - 1


def oasis_generator_options(parser, is_train: bool) -> None:
    parser.add_argument('--param_free_norm', type=str, default='syncbatch', choices=['syncbatch', 'batch', 'instance'],
                        architecture=True, help="OASIS: the normalisation before each SPADE modulation ('syncbatch' is "
                                                "SyncBatchNorm only when training on several GPUs, else BatchNorm)")
    parser.add_argument('--spade_ks', type=int, choices=[1, 3, 5], default=3, architecture=True,
                        help='OASIS: kernel size of the convolutions inside SPADE')
    parser.add_argument('--no_3dnoise', action='store_true', architecture=True,
                        help='OASIS: no noise code concatenated to the label map (one image per label map)')


@register('generator', 'oasis', add_options=oasis_generator_options, checkpoint_keys=r'^body\.\d+\.norm_0\.first_norm')
class OASISGenerator(BaseNetwork):
    """OASIS's generator: six SPADE residual blocks with nearest upsampling between them, every SPADE reading the
    label map with the noise code in front of it; `fc` starts from both downsampled."""

    def __init__(self,
                 semantic_nc: int,                  # label channels (OASIS: the classes plus the unlabelled one)
                 ngf: int = 64,                     # width (channels_G): the first blocks have 16 * ngf channels
                 crop_size: int = 256,              # image width
                 aspect_ratio: float = 1.0,         # image width / height
                 output_nc: int = 3,                # image channels
                 z_dim: int = 64,                   # size of the noise code
                 no_3dnoise: bool = False,          # no noise: the label map alone
                 param_free_norm: str = 'syncbatch',  # syncbatch, batch or instance, before SPADE's modulation
                 spade_ks: int = 3,                 # kernel size inside SPADE
                 sync_bn: bool = False):            # SyncBatchNorm (training distributed on GPUs)
        super().__init__()
        self.output_size = image_size(crop_size, aspect_ratio)
        self.draws_noise = not no_3dnoise
        self.z_dim = 0 if no_3dnoise else z_dim
        steps = 2 ** (NUM_RES_BLOCKS - 1)
        # As the public code: the initial width from the crop, the height from the aspect ratio.
        self.initial_size = (round((crop_size // steps) / aspect_ratio), crop_size // steps)  # (H, W)
        if (self.initial_size[1] * steps, self.initial_size[0] * steps) != self.output_size:
            raise UserError(f'--crop_size {crop_size} with --aspect_ratio {aspect_ratio} makes {self.output_size[0]}x'
                            f'{self.output_size[1]} images, but the OASIS generator doubles its size '
                            f'{NUM_RES_BLOCKS - 1}'
                            f' times: width and height must be multiples of {steps}')
        conditioning = semantic_nc + self.z_dim
        widths = [w * ngf for w in GENERATOR_WIDTHS]
        norm = f'spectralspade{param_free_norm}{spade_ks}x{spade_ks}'
        # Built in the public code's order, so that the state_dict lists its keys in the same order.
        self.conv_img = nn.Conv2d(widths[-1], output_nc, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)
        self.body = nn.ModuleList(SPADEResnetBlock(fin, fout, conditioning, norm, sync_bn, spade_norm_name='first_norm')
                                  for fin, fout in zip(widths[:-1], widths[1:]))
        self.fc = nn.Conv2d(conditioning, widths[0], 3, padding=1)

    def forward(self, semantics: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Images for (N, semantic_nc, H, W) one-hot label maps and noise `z`: (N, z_dim), one code per image as
        OASIS draws it; (N, z_dim, H, W), a code per pixel (a region restyled); None: drawn here, as the public
        code always does (torch.randn from the global generator)."""
        seg = semantics
        if self.draws_noise:
            if z is None:
                z = torch.randn(seg.size(0), self.z_dim, dtype=torch.float32, device=seg.device)
            if z.dim() == 2:
                z = z.view(z.size(0), self.z_dim, 1, 1).expand(-1, -1, seg.size(2), seg.size(3))
            seg = torch.cat((z.to(seg.dtype), seg), dim=1)
        x = self.fc(F.interpolate(seg, size=self.initial_size))
        for index, block in enumerate(self.body):
            x = block(x, seg)
            if index < len(self.body) - 1:
                x = self.up(x)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class OASISDiscriminatorBlock(nn.Module):
    """A residual block of OASIS's discriminator: two spectral-normalised 3x3 convolutions after leaky ReLUs (the
    first block's first without), average pooling after them (`down`) or nearest upsampling before them (`up`),
    and a learned 1x1 shortcut when the width changes. The Sequential indices are the checkpoint's names."""

    def __init__(self, fin: int, fout: int, direction: str, first: bool = False):
        super().__init__()
        self.direction, self.first = direction, first
        self.learned_shortcut = fin != fout
        conv = spectral_norm(nn.Conv2d(fin, fout, 3, 1, 1))
        if first:
            self.conv1 = nn.Sequential(conv)
        elif direction == 'up':
            self.conv1 = nn.Sequential(nn.LeakyReLU(0.2, False), nn.Upsample(scale_factor=2), conv)
        else:
            self.conv1 = nn.Sequential(nn.LeakyReLU(0.2, False), conv)
        self.conv2 = nn.Sequential(nn.LeakyReLU(0.2, False), spectral_norm(nn.Conv2d(fout, fout, 3, 1, 1)))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, 1, 0))
        self.sampling = nn.Upsample(scale_factor=2) if direction == 'up' else nn.AvgPool2d(2)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        # The public code's order: the first block pools before the 1x1 convolution, the others after it.
        if self.direction == 'up' or (self.first and self.direction == 'down'):
            x = self.sampling(x)
        if self.learned_shortcut:
            x = self.conv_s(x)
        if self.direction == 'down' and not self.first:
            x = self.sampling(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = self.conv2(self.conv1(x))
        if self.direction == 'down':
            dx = self.sampling(dx)
        return self.shortcut(x) + dx


@register('discriminator', 'oasis', checkpoint_keys=r'^body_(down|up)\.|^layer_up_last')
class OASISDiscriminator(BaseNetwork):
    """OASIS's U-Net discriminator on the image alone: six downsampling blocks, six upsampling blocks each fed the
    encoder's features of its resolution (concatenated before its own input), and a 1x1 head with one output per
    class plus one for "fake" at full resolution."""

    def __init__(self,
                 semantic_nc: int,      # label channels: the classes plus the unlabelled one (outputs: one more)
                 ndf: int = 64,         # width: 64 is the public code's (128 ... 512 channels)
                 output_nc: int = 3):   # image channels
        super().__init__()
        widths = (output_nc,) + tuple(w * ndf for w in DISCRIMINATOR_WIDTHS)
        ups = [(widths[-1], widths[-2])] + [(2 * widths[-1 - i], widths[-2 - i]) for i in range(1, NUM_RES_BLOCKS - 1)]
        ups.append((2 * widths[1], ndf))
        # The decoder first, as the public code registers them (the state_dict's key order).
        self.body_up = nn.ModuleList(OASISDiscriminatorBlock(fin, fout, 'up') for fin, fout in ups)
        self.body_down = nn.ModuleList(OASISDiscriminatorBlock(widths[i], widths[i + 1], 'down', first=i == 0)
                                       for i in range(NUM_RES_BLOCKS))
        self.layer_up_last = nn.Conv2d(ndf, semantic_nc + 1, 1, 1, 0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (N, semantic_nc + 1, H, W): channel 0 "fake", channel c + 1 class c (in the label order)."""
        features: List[torch.Tensor] = []
        x = image
        for block in self.body_down:
            x = block(x)
            features.append(x)
        x = self.body_up[0](x)
        for index in range(1, len(self.body_down)):
            x = self.body_up[index](torch.cat((features[-index - 1], x), dim=1))  # encoder features first
        return self.layer_up_last(x)
