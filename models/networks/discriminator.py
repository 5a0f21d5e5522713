"""The discriminators: CC-FPSE's feature-pyramid semantics-embedding one (`--netD fpse`) and, for the paper's
ablations, SPADE's multi-scale PatchGAN (`--netD multiscale`).

Both return (features for feature matching, one logit map per scale) from forward(images, segmap), and say over
how many scales feature matching averages (`feature_matching_scales`), so that one loss path serves both.
"""
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base_network import BaseNetwork
from .limits import limited_int
from .normalization import get_nonspade_norm_layer
from .registry import register

# Output widths of the bottom-up stages, in multiples of ndf.
ENCODER_WIDTHS = (1, 2, 4, 8, 8)
# Levels that predict real/fake and semantic alignment (stride 4, 8 and 16).
OUTPUT_LEVELS = (2, 3, 4)


@register('discriminator', 'fpse', checkpoint_keys=r'^(enc\d|lat\d|final\d)\.')
class FPSEDiscriminator(BaseNetwork):
    """Bottom-up stride-2 encoder, top-down pathway with lateral connections, and at three scales a patch
    real/fake logit plus the inner product of its features with an embedding of the label map."""

    def __init__(self,
                 semantic_nc: int,                      # label channels (+ 1 instance-edge channel)
                 ndf: int = 64,                         # width of the first stage
                 output_nc: int = 3,                    # image channels
                 norm_D: str = 'spectralinstance',      # [spectral]{instance,batch,sync_batch,none}
                 sync_bn: bool = False):                # SyncBatchNorm for 'sync_batch' (training on GPUs)
        super().__init__()
        nf = ndf
        norm_layer = get_nonspade_norm_layer(norm_D, sync_bn)

        def conv_unit(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)
            return nn.Sequential(norm_layer(conv), nn.LeakyReLU(0.2, True))

        in_channels = output_nc
        for level, width in enumerate(ENCODER_WIDTHS, start=1):
            self.add_module(f'enc{level}', conv_unit(in_channels, width * nf, 3, stride=2))
            in_channels = width * nf
        for level in range(2, len(ENCODER_WIDTHS) + 1):
            self.add_module(f'lat{level}', conv_unit(ENCODER_WIDTHS[level - 1] * nf, 4 * nf, 1))
        for level in OUTPUT_LEVELS:
            self.add_module(f'final{level}', conv_unit(4 * nf, 2 * nf, 3))

        self.up = nn.Upsample(scale_factor=2, mode='bilinear')
        # Named as in the released checkpoints: `tf` gives the true/fake logit, `seg` projects the features that
        # are matched against the label embedding.
        self.tf = nn.Conv2d(2 * nf, 1, kernel_size=1)
        self.seg = nn.Conv2d(2 * nf, 2 * nf, kernel_size=1)
        self.embedding = nn.Conv2d(semantic_nc, 2 * nf, kernel_size=1)
        # Each of the four features is its own scale (stride 4 .. 32): feature matching averages over them.
        self.feature_matching_scales = len(ENCODER_WIDTHS) - 1

    def forward(self, images: torch.Tensor, segmap: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Returns (features for feature matching, [logits at stride 4, 8, 16])."""
        bottom_up = {}
        x = images
        for level in range(1, len(ENCODER_WIDTHS) + 1):
            x = getattr(self, f'enc{level}')(x)
            bottom_up[level] = x

        top = len(ENCODER_WIDTHS)
        top_down = {top: self.lat5(bottom_up[top])}
        for level in range(top - 1, 1, -1):
            top_down[level] = self.up(top_down[level + 1]) + getattr(self, f'lat{level}')(bottom_up[level])

        # The label embedding is pooled to stride 2, then once more for each output level.
        embedding = F.avg_pool2d(self.embedding(segmap), kernel_size=2, stride=2)
        logits = []
        for level in OUTPUT_LEVELS:
            embedding = F.avg_pool2d(embedding, kernel_size=2, stride=2)
            features = getattr(self, f'final{level}')(top_down[level])
            alignment = (embedding * self.seg(features)).sum(dim=1, keepdim=True)
            logits.append(self.tf(features) + alignment)

        return [bottom_up[level] for level in range(2, top + 1)], logits


class NLayerDiscriminator(BaseNetwork):
    """SPADE's PatchGAN: 4x4 convs, stride 2 but for the last two; every layer's output is a feature."""

    def __init__(self,
                 input_nc: int,                         # label channels + image channels
                 ndf: int = 64,                         # width of the first layer (doubling, at most 512)
                 n_layers_D: int = 4,                   # convolutions before the logit layer
                 norm_D: str = 'spectralinstance',      # [spectral]{instance,batch,sync_batch,none}
                 sync_bn: bool = False):                # SyncBatchNorm for 'sync_batch' (training on GPUs)
        super().__init__()
        norm_layer = get_nonspade_norm_layer(norm_D, sync_bn)
        nf, in_channels = ndf, input_nc
        layers = [nn.Sequential(nn.Conv2d(in_channels, nf, kernel_size=4, stride=2, padding=2),
                                nn.LeakyReLU(0.2, False))]
        for n in range(1, n_layers_D):
            nf_prev, nf = nf, min(nf * 2, 512)
            conv = nn.Conv2d(nf_prev, nf, kernel_size=4, stride=1 if n == n_layers_D - 1 else 2, padding=2)
            layers.append(nn.Sequential(norm_layer(conv), nn.LeakyReLU(0.2, False)))
        layers.append(nn.Sequential(nn.Conv2d(nf, 1, kernel_size=4, stride=1, padding=2)))
        for index, layer in enumerate(layers):  # released names: model0, model1, ...
            self.add_module(f'model{index}', layer)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Every layer's output; the last is the logit map."""
        outputs = []
        for layer in self.children():
            x = layer(x)
            outputs.append(x)
        return outputs


SUBARCHITECTURES = {'n_layer': NLayerDiscriminator}


def multiscale_options(parser, is_train: bool) -> None:
    parser.add_argument('--num_D', type=limited_int('num_D'), default=2, architecture=True,
                        help='number of discriminators (scales)')
    parser.add_argument('--n_layers_D', type=limited_int('n_layers_D'), default=4, architecture=True,
                        help='layers in each discriminator')


@register('discriminator', 'multiscale', add_options=multiscale_options, checkpoint_keys=r'^discriminator_\d\.')
class MultiscaleDiscriminator(BaseNetwork):
    """SPADE's multi-scale discriminator (`--netD multiscale`): `--num_D` PatchGANs on the label map and image at
    full, half, quarter ... resolution."""

    def __init__(self,
                 semantic_nc: int,                      # label channels (+ 1 instance-edge channel)
                 ndf: int = 64,                         # width of each discriminator's first layer
                 output_nc: int = 3,                    # image channels
                 norm_D: str = 'spectralinstance',      # [spectral]{instance,batch,sync_batch,none}
                 num_D: int = 2,                        # discriminators, each at half the previous resolution
                 netD_subarch: str = 'n_layer',         # a key of SUBARCHITECTURES
                 n_layers_D: int = 4,                   # layers of each n_layer discriminator
                 sync_bn: bool = False):                # SyncBatchNorm for 'sync_batch' (training on GPUs)
        super().__init__()
        for index in range(num_D):
            self.add_module(f'discriminator_{index}', SUBARCHITECTURES[netD_subarch](
                semantic_nc + output_nc, ndf, n_layers_D, norm_D, sync_bn))
        self.feature_matching_scales = num_D

    def forward(self, images: torch.Tensor, segmap: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Returns (the intermediate outputs of every scale, [logits of each scale])."""
        x = torch.cat([segmap, images], dim=1)
        features, logits = [], []
        for discriminator in self.children():
            *intermediate, logit = discriminator(x)
            features += intermediate
            logits.append(logit)
            x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
        return features, logits
