"""The generators: CC-FPSE's (`--netG condconv`) and, for the paper's ablations, SPADE's (`--netG spade`)."""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .architecture import DepthsepCCBlock, SPADEResnetBlock, uses_lean_kernels
from .base_network import BaseNetwork
from .limits import limited_int
from util.errors import UserError
from util.util import image_size
from .normalization import batch_norm_class, get_nonspade_norm_layer, resize_nearest
from .predictor import PREDICTOR_NC, fused_first_layers
from .registry import register


# The image branch: (block, upsample x2 before it, pyramid level whose features condition it).
# Reference quirk kept for the released weights: in 'normal' G_middle_1 reuses G_middle_0's level.
BLOCK_SCHEDULES = {
    'normal': [('head_0', False, 0), ('G_middle_0', True, 1), ('G_middle_1', False, 1),
               ('up_0', True, 2), ('up_1', True, 3), ('up_2', True, 4), ('up_3', True, 5)],
    'more': [('head_0', False, 0), ('G_middle_0', True, 1), ('G_middle_1', True, 2),
             ('up_0', True, 3), ('up_1', True, 4), ('up_2', True, 5), ('up_3', True, 6)],
}


# --memory_format: the layout of each choice, None for auto (see CondConvGenerator.activation_layout).
MEMORY_FORMATS = {'auto': None, 'channels_last': torch.channels_last, 'contiguous': torch.contiguous_format}


class GeneratorBase(BaseNetwork):
    """What both generators share: their image branch starts from z (VAE) or from the label map downsampled to
    the first block's size (`fc`, as the released checkpoints name it)."""

    def build_input_layer(self, semantic_nc: int, ngf: int, use_vae: bool, z_dim: int, crop_size: int,
                          aspect_ratio: float, upsampling_steps: int) -> None:
        self.ngf, self.use_vae, self.z_dim = ngf, use_vae, z_dim
        self.output_size = image_size(crop_size, aspect_ratio)
        self.sw = crop_size // (2 ** upsampling_steps)
        self.sh = round(self.sw / aspect_ratio)
        if (self.sw * 2 ** upsampling_steps, self.sh * 2 ** upsampling_steps) != self.output_size:
            step = 2 ** upsampling_steps
            raise UserError(f'--crop_size {crop_size} with --aspect_ratio {aspect_ratio} makes {self.output_size[0]}x'
                            f'{self.output_size[1]} images, but the generator doubles its size {upsampling_steps} '
                            f'times: width and height must be multiples of {step} (e.g. --crop_size '
                            f'{max(step, round(crop_size / step) * step)})')
        if use_vae:
            self.fc = nn.Linear(z_dim, 16 * ngf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(semantic_nc, 16 * ngf, 3, padding=1)

    def initial_features(self, seg: torch.Tensor, z: Optional[torch.Tensor]) -> torch.Tensor:
        if not self.use_vae:
            return self.fc(F.interpolate(seg, size=(self.sh, self.sw)))
        if z is None:
            z = torch.randn(seg.size(0), self.z_dim, dtype=torch.float32, device=seg.device)
        return self.fc(z).view(-1, 16 * self.ngf, self.sh, self.sw)


def add_upsampling_option(parser, choices: Tuple[str, ...]) -> None:
    # Both codes choose the deeper layout for Cityscapes by dataset name; the released checkpoints need it.
    default = 'more' if parser.selected('dataset_mode') == 'cityscapes' else 'normal'
    most = " 'most' also a last block at twice the resolution." if 'most' in choices else ''
    parser.add_argument('--num_upsampling_layers', choices=choices, default=default, architecture=True,
                        help="'more' adds an upsampling step between the two middle blocks (one more pyramid "
                             f"level).{most}")


def condconv_options(parser, is_train: bool) -> None:
    parser.add_argument('--predictor_nc', type=limited_int('predictor_nc'), default=PREDICTOR_NC, architecture=True,
                        help="hidden channels of every block's kernel and attention predictors (the paper's 128); "
                             "fewer make small CPU models several times faster")
    parser.add_argument('--depthconv_impl', type=str, default='lean', choices=['lean', 'unfold'],
                        help='conditional depthwise convolution: lean (never builds the unfolded input) or unfold (the '
                             'reference formulation); same numbers')
    parser.add_argument('--predictor_impl', type=str, default='fused', choices=['fused', 'reference'],
                        help="kernel/attention predictors: fused (a block's first layers as one convolution that skips "
                             "label channels absent from the batch; with --depthconv_impl lean, kernel maps predicted "
                             "a tap at a time without autograd) or reference (one convolution each, whole kernel "
                             "maps); "
                             "same numbers")
    parser.add_argument('--memory_format', type=str, default='auto', choices=list(MEMORY_FORMATS),
                        help='layout of the generator\'s activations: auto is channels_last on CPU under --amp bf16 '
                             'with the lean, fused kernels (oneDNN\'s convolutions are faster so) and contiguous '
                             'otherwise; channels-last, kernel maps are predicted tap-major so that a tap\'s kernels '
                             'are adjacent channels; same numbers')
    parser.add_argument('--checkpoint_predictors', action='store_true',
                        help='recompute the per-pixel kernels in backward instead of keeping them: less memory, more '
                             'time')
    add_upsampling_option(parser, tuple(BLOCK_SCHEDULES))


@register('generator', 'condconv', add_options=condconv_options, checkpoint_keys=r'gen_weights\d|^labelenc\d')
class CondConvGenerator(GeneratorBase):
    """Synthesises an image from a label map with layout-conditioned convolutions.

    A weight-prediction network turns the label map into a feature pyramid (stride-2 encoder `labelenc*`,
    top-down decoder `labeldec*` with lateral 1x1 convs `labellat*`). Each image block takes the pyramid
    level at its resolution (concatenated with the label map) and predicts from it its per-pixel depthwise
    kernels and attention maps. The image branch starts from z (VAE) or from the downsampled label map.
    """

    def __init__(self,
                 semantic_nc: int,                          # input channels: label channels (+ 1 instance-edge channel)
                 ngf: int = 64,                             # width: the first block has 16 * ngf channels
                 crop_size: int = 256,                      # image width
                 aspect_ratio: float = 1.0,                 # image width / height
                 output_nc: int = 3,                        # image channels
                 use_vae: bool = False,                     # start from a style code z instead of the label map
                 z_dim: int = 256,                          # size of z
                 num_upsampling_layers: str = 'normal',     # a key of BLOCK_SCHEDULES ('more' for Cityscapes)
                 norm_G: str = 'spectralsync_batch',        # normalisation of the label pyramid's convolutions
                 sync_bn: bool = False,                     # SyncBatchNorm (training distributed on GPUs)
                 depthconv_impl: str = 'lean',              # 'lean' or 'unfold' (the reference's): same numbers
                 predictor_impl: str = 'fused',             # 'fused' or 'reference': same numbers
                 memory_format: str = 'auto',               # a key of MEMORY_FORMATS: same numbers
                 checkpoint_predictors: bool = False,       # recompute the predicted kernels in backward
                 predictor_nc: int = PREDICTOR_NC):         # hidden width of the blocks' kernel and attention
                                                            # predictors
        super().__init__()
        nf = ngf
        self.fused = predictor_impl == 'fused'
        self.lean_kernels = uses_lean_kernels(predictor_impl, depthconv_impl)
        self.memory_format = MEMORY_FORMATS[memory_format]
        self.schedule = BLOCK_SCHEDULES[num_upsampling_layers]
        self.num_levels = self.schedule[-1][2] + 1
        self.build_input_layer(semantic_nc, ngf, use_vae, z_dim, crop_size, aspect_ratio, self.num_levels - 1)

        norm_layer = get_nonspade_norm_layer(norm_G, sync_bn)

        def conv_unit(in_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
            conv = nn.Conv2d(in_channels, nf, kernel_size, stride=stride, padding=kernel_size // 2)
            return nn.Sequential(norm_layer(conv), nn.LeakyReLU(0.2, True))

        # Level 1 keeps the input resolution; every further level halves it.
        for level in range(1, self.num_levels + 1):
            self.add_module(f'labelenc{level}', conv_unit(semantic_nc if level == 1 else nf, 3, 1 if level == 1 else 2))
        for level in range(1, self.num_levels):
            self.add_module(f'labellat{level}', conv_unit(nf, 1))
            self.add_module(f'labeldec{level}', conv_unit(nf, 3))

        cond_nc = semantic_nc + nf
        widths = {'head_0': (16, 16), 'G_middle_0': (16, 16), 'G_middle_1': (16, 16),
                  'up_0': (16, 8), 'up_1': (8, 4), 'up_2': (4, 2), 'up_3': (2, 1)}
        for name, _, _ in self.schedule:
            fin, fout = widths[name]
            self.add_module(name, DepthsepCCBlock(fin * nf, fout * nf, cond_nc, batch_norm_class(sync_bn),
                                                  depthconv_impl, predictor_impl, checkpoint_predictors, predictor_nc))

        self.conv_img = nn.Conv2d(nf, output_nc, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def label_pyramid(self, seg: torch.Tensor, semantics: torch.Tensor,
                      channels: Optional[torch.Tensor]) -> List[torch.Tensor]:
        """Feature pyramid of the label map `seg`, coarsest level first.

        Its first convolution reads `semantics`, which holds seg's `channels` (None: all of seg); the others must
        be zero everywhere.
        """
        if channels is None:
            features = self.labelenc1(semantics)
        else:
            conv, *rest = [layer for layer in self.labelenc1.modules() if not isinstance(layer, nn.Sequential)]
            # Called on one pixel, the conv runs its spectral-norm hook, which sets conv.weight as a call on the
            # whole map would (with its one power iteration in training).
            # A copy of the pixel, so that what backward keeps is the pixel and not the whole one-hot map.
            conv(seg[:, :, :1, :1].clone())
            features = fused_first_layers([conv], semantics, channels)[0]
            for layer in rest:
                features = layer(features)
        encoded = [features]
        for level in range(2, self.num_levels + 1):
            features = getattr(self, f'labelenc{level}')(features)
            encoded.append(features)
        decoded = [encoded[-1]]
        for level in range(1, self.num_levels):
            lateral = getattr(self, f'labellat{level}')(encoded[-1 - level])
            decoded.append(getattr(self, f'labeldec{level}')(self.up(decoded[-1]) + lateral))
        return decoded

    def conditioning_semantics(self, seg: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The label-map channels the blocks' predictors read, and which input channels of the predictors' first
        layers the conditioning map then holds (None: all of them)."""
        if not self.fused:
            return seg, None
        # A batch holds a few of the (up to 184) classes; an all-zero channel adds exactly zero to a convolution.
        present = seg.ne(0).flatten(2).any(2).any(0).nonzero().squeeze(1)  # bool temporaries: a quarter of seg
        features = torch.arange(seg.size(1), seg.size(1) + self.ngf, device=seg.device)
        return seg.index_select(1, present), torch.cat((present, features))

    def activation_layout(self, device: torch.device) -> torch.memory_format:
        if self.memory_format is not None:
            return self.memory_format
        # Measured with scripts/benchmark.py (docs/performance.md): on a CPU with native bf16, oneDNN runs the
        # predictors' convolutions faster channels-last in bf16 and keeps less; in float32 channels-last was as fast
        # there but 1.7x slower on an AVX2 CPU. On CUDA it is still to be measured (ours_channels_last against
        # ours_contiguous).
        bf16_on_cpu = device.type == 'cpu' and torch.is_autocast_enabled('cpu') and \
            torch.get_autocast_dtype('cpu') == torch.bfloat16
        channels_last = self.lean_kernels and bf16_on_cpu
        return torch.channels_last if channels_last else torch.contiguous_format

    def forward(self, seg: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        layout = self.activation_layout(seg.device)
        x = self.initial_features(seg, z)

        semantics, input_channels = self.conditioning_semantics(seg)
        semantics = semantics.contiguous(memory_format=layout)
        pyramid = self.label_pyramid(seg, semantics,
                                     None if input_channels is None else input_channels[:semantics.size(1)])
        for name, upsample, level in self.schedule:
            if upsample:
                x = self.up(x)
            cond = torch.cat((resize_nearest(semantics, x.shape[2:]), pyramid[level]), dim=1)
            # A map of one pixel (or one channel) is in both layouts at once, and ops on it may return NCHW.
            x, cond = x.contiguous(memory_format=layout), cond.contiguous(memory_format=layout)
            x = getattr(self, name)(x, cond, input_channels, tap_major=layout == torch.channels_last)

        # In place: nothing keeps the last block's output for backward, so it is not kept twice.
        return torch.tanh(self.conv_img(F.leaky_relu_(x, 0.2))).contiguous()


SPADE_UPSAMPLING_STEPS = {'normal': 5, 'more': 6, 'most': 7}
# SPADE's image branch: (block, input and output width in multiples of ngf, upsample x2 before it).
SPADE_BLOCKS = [('head_0', 16, 16, False), ('G_middle_0', 16, 16, True), ('G_middle_1', 16, 16, None),
                ('up_0', 16, 8, True), ('up_1', 8, 4, True), ('up_2', 4, 2, True), ('up_3', 2, 1, True)]


def spade_options(parser, is_train: bool) -> None:
    parser.set_defaults(norm_G='spectralspadesyncbatch3x3')
    add_upsampling_option(parser, tuple(SPADE_UPSAMPLING_STEPS))


@register('generator', 'spade', add_options=spade_options, checkpoint_keys=r'\.norm_[01]\.mlp_')
class SPADEGenerator(GeneratorBase):
    """SPADE's generator (`--netG spade`, Park et al. 2019), equal to NVlabs/SPADE's: SPADE residual blocks that
    read the label map at every resolution, starting from z (VAE) or from the downsampled label map."""

    def __init__(self,
                 semantic_nc: int,                              # label channels (+ 1 instance-edge channel)
                 ngf: int = 64,                                 # width: the first block has 16 * ngf channels
                 crop_size: int = 256,                          # image width
                 aspect_ratio: float = 1.0,                     # image width / height
                 output_nc: int = 3,                            # image channels
                 use_vae: bool = False,                         # start from a style code z instead of the label map
                 z_dim: int = 256,                              # size of z
                 num_upsampling_layers: str = 'normal',         # a key of SPADE_UPSAMPLING_STEPS
                 norm_G: str = 'spectralspadesyncbatch3x3',     # [spectral]spade{instance,batch,syncbatch}KxK
                 sync_bn: bool = False):                        # SyncBatchNorm (training distributed on GPUs)
        super().__init__()
        nf = ngf
        self.build_input_layer(semantic_nc, ngf, use_vae, z_dim, crop_size, aspect_ratio,
                               SPADE_UPSAMPLING_STEPS[num_upsampling_layers])
        blocks = SPADE_BLOCKS + ([('up_4', 1, 0.5, True)] if num_upsampling_layers == 'most' else [])
        self.schedule = []
        for name, fin, fout, upsample in blocks:
            self.add_module(name, SPADEResnetBlock(int(fin * nf), int(fout * nf), semantic_nc, norm_G, sync_bn))
            # G_middle_1 is upsampled only in the deeper layouts.
            self.schedule.append((name, upsample if upsample is not None else num_upsampling_layers != 'normal'))
        self.conv_img = nn.Conv2d(int(blocks[-1][2] * nf), output_nc, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, seg: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.initial_features(seg, z)
        for name, upsample in self.schedule:
            if upsample:
                x = self.up(x)
            x = getattr(self, name)(x, seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))
