"""The generators: CC-FPSE's (`--netG condconv`) and, for the paper's ablations, SPADE's (`--netG spade`)."""
import argparse
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .architecture import DepthsepCCBlock, SPADEResnetBlock, fused_first_layers, uses_lean_kernels
from .base_network import BaseNetwork
from .normalization import batch_norm_class, get_nonspade_norm_layer, resize_nearest


def add_upsampling_option(parser: argparse.ArgumentParser, choices: Tuple[str, ...]) -> None:
    # Both codes choose the deeper layout for Cityscapes by dataset name; the released checkpoints need it.
    default = 'more' if parser.selected('dataset_mode') == 'cityscapes' else 'normal'
    parser.add_argument('--num_upsampling_layers', choices=choices, default=default, architecture=True,
                        help="'more' adds an upsampling step between the two middle blocks (one more pyramid level); "
                             "'most' (SPADE) also a last block at twice the resolution")


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

    def build_input_layer(self, opt: argparse.Namespace, sw: int, sh: int) -> None:
        self.ngf, self.use_vae, self.z_dim, self.sw, self.sh = opt.ngf, opt.use_vae, opt.z_dim, sw, sh
        if opt.use_vae:
            self.fc = nn.Linear(opt.z_dim, 16 * opt.ngf * sw * sh)
        else:
            self.fc = nn.Conv2d(opt.semantic_nc, 16 * opt.ngf, 3, padding=1)

    def initial_features(self, seg: torch.Tensor, z: Optional[torch.Tensor]) -> torch.Tensor:
        if not self.use_vae:
            return self.fc(F.interpolate(seg, size=(self.sh, self.sw)))
        if z is None:
            z = torch.randn(seg.size(0), self.z_dim, dtype=torch.float32, device=seg.device)
        return self.fc(z).view(-1, 16 * self.ngf, self.sh, self.sw)


class CondConvGenerator(GeneratorBase):
    """Synthesises an image from a label map with layout-conditioned convolutions.

    A weight-prediction network turns the label map into a feature pyramid (stride-2 encoder `labelenc*`,
    top-down decoder `labeldec*` with lateral 1x1 convs `labellat*`). Each image block takes the pyramid
    level at its resolution (concatenated with the label map) and predicts from it its per-pixel depthwise
    kernels and attention maps. The image branch starts from z (VAE) or from the downsampled label map.
    """

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.add_argument('--depthconv_impl', type=str, default='lean', choices=['lean', 'unfold'],
                            help='conditional depthwise convolution: lean (never builds the unfolded input) or unfold (the reference formulation); same numbers')
        parser.add_argument('--predictor_impl', type=str, default='fused', choices=['fused', 'reference'],
                            help="kernel/attention predictors: fused (a block's first layers as one convolution that skips "
                                 "label channels absent from the batch; with --depthconv_impl lean, kernel maps predicted "
                                 "a tap at a time without autograd) or reference (one convolution each, whole kernel maps); "
                                 "same numbers")
        parser.add_argument('--memory_format', type=str, default='auto', choices=list(MEMORY_FORMATS),
                            help='layout of the generator\'s activations: auto is channels_last on CPU with the lean, fused '
                                 'kernels (oneDNN\'s convolutions are faster so) and contiguous otherwise; channels-last, '
                                 'kernel maps are predicted tap-major so that a tap\'s kernels are adjacent channels; '
                                 'same numbers')
        parser.add_argument('--checkpoint_predictors', action='store_true',
                            help='recompute the per-pixel kernels in backward instead of keeping them: less memory, more time')
        add_upsampling_option(parser, tuple(BLOCK_SCHEDULES))
        return parser

    def __init__(self, opt: argparse.Namespace):
        super().__init__()
        nf = opt.ngf
        self.fused = opt.predictor_impl == 'fused'
        self.lean_kernels = uses_lean_kernels(opt.predictor_impl, opt.depthconv_impl)
        self.memory_format = MEMORY_FORMATS[opt.memory_format]
        self.schedule = BLOCK_SCHEDULES[opt.num_upsampling_layers]
        self.num_levels = self.schedule[-1][2] + 1
        self.build_input_layer(opt, *self.compute_latent_vector_size(opt))

        norm_layer = get_nonspade_norm_layer(opt, opt.norm_G)

        def conv_unit(in_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
            conv = nn.Conv2d(in_channels, nf, kernel_size, stride=stride, padding=kernel_size // 2)
            return nn.Sequential(norm_layer(conv), nn.LeakyReLU(0.2, True))

        # Level 1 keeps the input resolution; every further level halves it.
        for level in range(1, self.num_levels + 1):
            self.add_module(f'labelenc{level}', conv_unit(opt.semantic_nc if level == 1 else nf, 3, 1 if level == 1 else 2))
        for level in range(1, self.num_levels):
            self.add_module(f'labellat{level}', conv_unit(nf, 1))
            self.add_module(f'labeldec{level}', conv_unit(nf, 3))

        cond_nc = opt.semantic_nc + nf
        widths = {'head_0': (16, 16), 'G_middle_0': (16, 16), 'G_middle_1': (16, 16),
                  'up_0': (16, 8), 'up_1': (8, 4), 'up_2': (4, 2), 'up_3': (2, 1)}
        for name, _, _ in self.schedule:
            fin, fout = widths[name]
            self.add_module(name, DepthsepCCBlock(fin * nf, fout * nf, cond_nc, batch_norm_class(opt.sync_bn),
                                                  opt.depthconv_impl, opt.predictor_impl, opt.checkpoint_predictors))

        self.conv_img = nn.Conv2d(nf, opt.output_nc, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def compute_latent_vector_size(self, opt: argparse.Namespace) -> Tuple[int, int]:
        num_up_layers = self.num_levels - 1
        sw = opt.crop_size // (2 ** num_up_layers)
        sh = round(sw / opt.aspect_ratio)
        return sw, sh

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
        # oneDNN runs the predictors' convolutions faster channels-last, forward and backward, bf16 most of all.
        # On CUDA the choice is scripts/benchmark.py's to make (ours_channels_last against ours_contiguous).
        channels_last = self.lean_kernels and device.type == 'cpu'
        return torch.channels_last if channels_last else torch.contiguous_format

    def forward(self, seg: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        layout = self.activation_layout(seg.device)
        x = self.initial_features(seg, z)

        semantics, columns = self.conditioning_semantics(seg)
        semantics = semantics.contiguous(memory_format=layout)
        pyramid = self.label_pyramid(seg, semantics, None if columns is None else columns[:semantics.size(1)])
        for name, upsample, level in self.schedule:
            if upsample:
                x = self.up(x)
            cond = torch.cat((resize_nearest(semantics, x.shape[2:]), pyramid[level]), dim=1)
            # A map of one pixel (or one channel) is in both layouts at once, and ops on it may return NCHW.
            x, cond = x.contiguous(memory_format=layout), cond.contiguous(memory_format=layout)
            x = getattr(self, name)(x, cond, columns, tap_major=layout == torch.channels_last)

        # In place: nothing keeps the last block's output for backward, so it is not kept twice.
        return torch.tanh(self.conv_img(F.leaky_relu_(x, 0.2))).contiguous()


SPADE_UPSAMPLING_STEPS = {'normal': 5, 'more': 6, 'most': 7}
# SPADE's image branch: (block, input and output width in multiples of ngf, upsample x2 before it).
SPADE_BLOCKS = [('head_0', 16, 16, False), ('G_middle_0', 16, 16, True), ('G_middle_1', 16, 16, None),
                ('up_0', 16, 8, True), ('up_1', 8, 4, True), ('up_2', 4, 2, True), ('up_3', 2, 1, True)]


class SPADEGenerator(GeneratorBase):
    """SPADE's generator (`--netG spade`, Park et al. 2019), equal to NVlabs/SPADE's: SPADE residual blocks that
    read the label map at every resolution, starting from z (VAE) or from the downsampled label map."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.set_defaults(norm_G='spectralspadesyncbatch3x3')
        add_upsampling_option(parser, tuple(SPADE_UPSAMPLING_STEPS))
        return parser

    def __init__(self, opt: argparse.Namespace):
        super().__init__()
        nf = opt.ngf
        sw = opt.crop_size // (2 ** SPADE_UPSAMPLING_STEPS[opt.num_upsampling_layers])
        self.build_input_layer(opt, sw, round(sw / opt.aspect_ratio))
        blocks = SPADE_BLOCKS + ([('up_4', 1, 0.5, True)] if opt.num_upsampling_layers == 'most' else [])
        self.schedule = []
        for name, fin, fout, upsample in blocks:
            self.add_module(name, SPADEResnetBlock(int(fin * nf), int(fout * nf), opt.semantic_nc, opt.norm_G, opt.sync_bn))
            # G_middle_1 is upsampled only in the deeper layouts.
            self.schedule.append((name, upsample if upsample is not None else opt.num_upsampling_layers != 'normal'))
        self.conv_img = nn.Conv2d(int(blocks[-1][2] * nf), opt.output_nc, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, seg: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.initial_features(seg, z)
        for name, upsample in self.schedule:
            if upsample:
                x = self.up(x)
            x = getattr(self, name)(x, seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))
