"""SDM's denoising network (`--netG sdm`): the UNet of WeilunWang/semantic-diffusion-model (openai/guided-diffusion's
UNet with its decoder conditioned on the label map), equal to the public code, with its state_dict names so that its
released model.pt / ema_*.pt files load strictly.

- The encoder sees the noisy image alone: plain residual blocks (GroupNorm, SiLU, convolution; the timestep
  embedding as a scale and shift), attention at the chosen resolutions, residual blocks that halve the size.
- The middle and the decoder use the same blocks with both normalisations replaced by SPADE group normalisation:
  a parameter-free GroupNorm, then a scale and shift predicted from the label map (resized with 'nearest', at each
  norm from the full-resolution map) by a 128-wide convolution. The label reaches the network only there.
- The output has 6 channels: the noise, then the variance interpolation v (the published learned variance).
- Numbers: GroupNorm and the attention's softmax run in at least float32 (the public code's float32 casts; a
  float64 model keeps float64); the timestep embedding is [cos, sin]; attention splits heads before q, k, v (its
  "legacy" order) with the scale split over q and k; the residual output convolutions, the attention projections and
  the last convolution start at zero, the others at PyTorch's initialisation, built in the public code's order.
"""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from models.networks.base_network import BaseNetwork
from models.networks.generator import MEMORY_FORMATS
from models.networks.registry import register
from util.arguments import float_in, int_in
from util.errors import UserError
from util.util import image_size as output_size_of

GROUPS = 32           # every width is a multiple of it
SPADE_HIDDEN = 128    # the SPADE convolutions' width, whatever the model's
# The public code's channel multipliers by image size (its create_model), when --channel_mult is not given.
CHANNEL_MULTS = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}


def sdm_options(parser, is_train: bool) -> None:
    """The public code's flags of the network, with its published defaults (its scripts' values)."""
    parser.add_argument('--num_channels', type=int_in(32, 1024), default=256, architecture=True,
                        help='SDM: base width of the UNet (a multiple of 32)')
    parser.add_argument('--num_res_blocks', type=int_in(1, 8), default=2, architecture=True,
                        help='SDM: residual blocks per resolution')
    parser.add_argument('--channel_mult', type=str, default='', architecture=True,
                        help="SDM: width multipliers per resolution, e.g. 1,1,2,2,4,4 ('': the public code's for the "
                             'image size)')
    parser.add_argument('--attention_resolutions', type=str, default='32,16,8', architecture=True,
                        help='SDM: attention where the image size divided by the feature size is one of these')
    parser.add_argument('--num_head_channels', type=int_in(1, 1024), default=64, architecture=True,
                        help='SDM: channels per attention head')
    parser.add_argument('--dropout', type=float_in(0, 1, high_included=False), default=0.0, architecture=True,
                        help='SDM: dropout in the blocks')
    parser.add_argument('--use_checkpoint', action='store_true',
                        help='SDM: recompute the blocks in the backward pass (less activation memory, same numbers)')
    parser.add_argument('--memory_format', type=str, default='auto', choices=list(MEMORY_FORMATS),
                        help="SDM: layout of the UNet's weights and activations: auto is channels_last when it "
                             "samples on the CPU (oneDNN's convolutions are faster so; float32 results differ from "
                             'contiguous by rounding, about 5e-6 of their size) and contiguous elsewhere')


def at_least_float32(dtype: torch.dtype) -> torch.dtype:
    """float32 for half types, the dtype itself for float32 and float64: where the public code casts to float32."""
    return torch.promote_types(dtype, torch.float32)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in at least float32 and cast back (the public code's GroupNorm32)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.to(at_least_float32(x.dtype))).to(x.dtype)


def zeroed(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.detach().zero_()
    return module


def timestep_embedding(timesteps: torch.Tensor, dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, dim) sinusoidal embeddings of the (N,) timesteps: [cos(t f), sin(t f)] with f = 10000^(-i / (dim / 2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=dtype) / half).to(timesteps.device)
    args = timesteps[:, None].to(dtype) * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class LabelPyramid:
    """The label map of a forward pass at each feature size it reaches, resized once (nearest, as each norm of the
    public code resizes it). In synthesis, a one-hot map (at most one 1 a pixel, else 0; the guidance's all-zero null
    label too) also gives each pixel's class index, so that a norm's first convolution is a lookup of its weights
    (`SPADEGroupNorm.hidden`): the same sums in another order, without multiplying zeros. A map with an instance-edge
    channel is not one-hot and is convolved."""

    def __init__(self, label: torch.Tensor, lookup: bool):
        self.label = label
        self.resized: dict = {}
        self.one_hot = False
        if lookup:  # (training convolves: no test there)
            per_pixel = label.sum(dim=1)
            self.one_hot = bool(((label == 0) | (label == 1)).all() and (per_pixel <= 1).all())
        if self.one_hot:  # the class of each pixel; label channels (one past the last) where there is none
            none = torch.full_like(per_pixel, label.shape[1], dtype=torch.long)
            self.index = torch.where(per_pixel > 0, label.argmax(dim=1), none)

    def at(self, size: Tuple[int, int]) -> torch.Tensor:
        if size not in self.resized:
            self.resized[size] = F.interpolate(self.label, size=size, mode='nearest')
        return self.resized[size]

    def padded_index(self, size: Tuple[int, int]) -> torch.Tensor:
        """(N, H + 2, W + 2) class indices at `size`, the border 'none' (the convolution's zero padding)."""
        key = ('index', size)
        if key not in self.resized:
            index = F.interpolate(self.index[:, None].float(), size=size, mode='nearest')[:, 0].long()
            self.resized[key] = F.pad(index, (1, 1, 1, 1), value=self.label.shape[1])
        return self.resized[key]


class SPADEGroupNorm(nn.Module):
    """Parameter-free GroupNorm, then a scale and shift from the label map: norm(x) * (1 + gamma) + beta."""

    def __init__(self, channels: int, label_channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(GROUPS, channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, SPADE_HIDDEN, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(SPADE_HIDDEN, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(SPADE_HIDDEN, channels, 3, padding=1)

    def hidden(self, labels: LabelPyramid, size: Tuple[int, int]) -> torch.Tensor:
        """mlp_shared of the label map at `size`: its 3x3 convolution, or for a one-hot map the sum over the nine
        taps of the weights of each neighbour's class (a zero row for 'none')."""
        if not labels.one_hot:
            return self.mlp_shared(labels.at(size))
        conv = self.mlp_shared[0]
        table = F.pad(conv.weight.permute(2, 3, 1, 0), (0, 0, 0, 1))  # (3, 3, classes + 1, hidden)
        index = labels.padded_index(size)
        height, width = size
        out = conv.bias.expand(index.shape[0], height, width, -1).clone()
        for dy in range(3):
            for dx in range(3):
                out += table[dy, dx][index[:, dy:dy + height, dx:dx + width]]
        return F.relu(out.permute(0, 3, 1, 2))  # channels-last in memory

    def forward(self, x: torch.Tensor, labels: LabelPyramid) -> torch.Tensor:
        # Public-code quirk kept: this norm has no float32 upcast (its GroupNorm runs in the model's dtype).
        hidden = self.hidden(labels, tuple(x.shape[2:]))
        # gamma and beta in one convolution (their weights stacked; the state_dict keeps the two layers), and the
        # modulation in one pass: the same numbers to rounding, 20 % less time on the CPU (docs/performance.md).
        weight = torch.cat((self.mlp_gamma.weight, self.mlp_beta.weight))
        bias = torch.cat((self.mlp_gamma.bias, self.mlp_beta.bias))
        gamma, beta = F.conv2d(hidden, weight, bias, padding=1).chunk(2, dim=1)
        return torch.addcmul(beta, self.norm(x), 1 + gamma)


class ResBlock(nn.Module):
    """A residual block of the encoder (label-free) or, with `label_channels`, of the middle and decoder (SPADE
    group norms): norm, SiLU, [resize], convolution; the timestep embedding as scale and shift after the second norm
    (or added, without scale_shift); SiLU, dropout, a zero-initialised convolution; a 1x1 skip when the width
    changes. `resize` 'down' (average pooling) or 'up' (nearest) applies to both paths."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: Optional[int] = None,
                 scale_shift: bool = True, resize: Optional[str] = None, label_channels: Optional[int] = None,
                 use_checkpoint: bool = False):
        super().__init__()
        self.out_channels = out_channels or channels
        self.scale_shift, self.resize, self.use_checkpoint = scale_shift, resize, use_checkpoint
        self.conditioned = label_channels is not None
        # Built in the public code's order (the initial weights then equal its under the same seed).
        if self.conditioned:
            self.in_norm = SPADEGroupNorm(channels, label_channels)
            self.in_layers = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, self.out_channels, 3, padding=1))
        else:
            self.in_layers = nn.Sequential(GroupNorm32(GROUPS, channels), nn.SiLU(),
                                           nn.Conv2d(channels, self.out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * self.out_channels if scale_shift else self.out_channels))
        if self.conditioned:
            self.out_norm = SPADEGroupNorm(self.out_channels, label_channels)
            self.out_layers = nn.Sequential(nn.SiLU(), nn.Dropout(dropout),
                                            zeroed(nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1)))
        else:
            self.out_layers = nn.Sequential(GroupNorm32(GROUPS, self.out_channels), nn.SiLU(), nn.Dropout(dropout),
                                            zeroed(nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1)))
        self.skip_connection = nn.Identity() if self.out_channels == channels else \
            nn.Conv2d(channels, self.out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, label: Optional[LabelPyramid] = None) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, emb, label, use_reentrant=False)
        return self._forward(x, emb, label)

    def _resized(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize == 'up':
            return F.interpolate(x, scale_factor=2, mode='nearest')
        if self.resize == 'down':
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        return x

    def _forward(self, x: torch.Tensor, emb: torch.Tensor, label: Optional[LabelPyramid]) -> torch.Tensor:
        # The norm (and SiLU) before the resize, the convolution after it, on the features; the skip resized alike.
        h = self.in_norm(x, label) if self.conditioned else x
        first_layers = self.in_layers[:-1]
        h = self._resized(first_layers(h))
        h = self.in_layers[-1](h)
        x = self._resized(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        out_norm = (lambda v: self.out_norm(v, label)) if self.conditioned else self.out_layers[0]
        out_rest = self.out_layers if self.conditioned else self.out_layers[1:]
        if self.scale_shift:
            scale, shift = torch.chunk(emb_out, 2, dim=1)
            h = torch.addcmul(shift, out_norm(h), 1 + scale)
        else:
            h = out_norm(h + emb_out)
        return self.skip_connection(x) + out_rest(h)


class AttentionBlock(nn.Module):
    """Self-attention over the positions, with a residual: GroupNorm, a 1x1 qkv projection split head by head (each
    head's q, k and v contiguous), softmax(q k^T / sqrt(d)) in at least float32, a zero-initialised projection."""

    def __init__(self, channels: int, head_channels: int, use_checkpoint: bool = False):
        super().__init__()
        if channels % head_channels:
            raise UserError(f'--num_head_channels {head_channels} does not divide the width {channels}')
        self.heads, self.use_checkpoint = channels // head_channels, use_checkpoint
        self.norm = GroupNorm32(GROUPS, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zeroed(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        length = qkv.shape[-1]
        head = c // self.heads
        q, k, v = qkv.reshape(b * self.heads, 3 * head, length).split(head, dim=1)
        scale = 1 / math.sqrt(math.sqrt(head))  # on q and on k, as the public code (steadier in float16)
        weight = torch.einsum('bct,bcs->bts', q * scale, k * scale)
        weight = torch.softmax(weight.to(at_least_float32(weight.dtype)), dim=-1).to(weight.dtype)
        attended = torch.einsum('bts,bcs->bct', weight, v).reshape(b, c, length)
        return (x + self.proj_out(attended)).reshape(b, c, *spatial)


class Stage(nn.ModuleList):
    """One entry of input_blocks / middle_block / output_blocks: its layers run in turn (the state_dict names
    `<stage>.<index>.<layer>`)."""

    def forward(self, h: torch.Tensor, emb: torch.Tensor, label: LabelPyramid) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                h = layer(h, emb, label if layer.conditioned else None)
            else:
                h = layer(h)
        return h


@register('generator', 'sdm', add_options=sdm_options, checkpoint_keys=r'^(input|output)_blocks\.\d+\.0\.')
class SDMUNet(BaseNetwork):
    """eps (and v) of noisy images x_t at timesteps t, given the one-hot label map: forward(x, timesteps, label)."""

    def __init__(self,
                 semantic_nc: int,                   # label channels (+ 1 instance-edge channel)
                 crop_size: int = 256,               # image width
                 aspect_ratio: float = 1.0,          # image width / height
                 num_channels: int = 256,            # base width (the public code's num_channels)
                 num_res_blocks: int = 2,            # residual blocks per resolution
                 channel_mult: str = '',             # width multipliers per resolution ('': by the image size)
                 attention_resolutions: str = '32,16,8',  # image size / feature size where attention runs
                 num_head_channels: int = 64,        # channels per attention head
                 dropout: float = 0.0,
                 output_nc: int = 3,                 # image channels
                 use_checkpoint: bool = False,       # recompute the blocks in backward (runtime)
                 memory_format: str = 'auto'):       # activations' layout, a key of MEMORY_FORMATS (runtime)
        super().__init__()
        self.memory_format = MEMORY_FORMATS[memory_format]
        self.activation_layout = self.memory_format or torch.contiguous_format  # prepare_for_inference may change it
        self.output_size = output_size_of(crop_size, aspect_ratio)
        # The public code's image_size: the short side (Cityscapes 256x512 is its image_size 256).
        size = min(self.output_size)
        mults = self.channel_mults(channel_mult, size)
        attention = {size // int(r) for r in attention_resolutions.split(',') if r.strip()}
        if num_channels % GROUPS or any(int(m * num_channels) % GROUPS for m in mults):
            raise UserError(f'--num_channels {num_channels}: every width must be a multiple of {GROUPS}')
        steps = 2 ** (len(mults) - 1)
        if any(side % steps for side in self.output_size):
            raise UserError(f'{self.output_size[0]}x{self.output_size[1]} images: SDM halves the size '
                            f'{len(mults) - 1} times, so width and height must be multiples of {steps}')
        self.z_dim = 0  # its noise is the image itself (models.methods.sdm.diffusion draws it)
        self.model_channels, self.output_nc = num_channels, output_nc
        emb = 4 * num_channels
        self.time_embed = nn.Sequential(nn.Linear(num_channels, emb), nn.SiLU(), nn.Linear(emb, emb))

        def res(ch_in: int, ch_out: int, label: Optional[int] = None, resize: Optional[str] = None) -> ResBlock:
            return ResBlock(ch_in, emb, dropout, ch_out, True, resize, label, use_checkpoint)

        def attend(ch: int) -> AttentionBlock:
            return AttentionBlock(ch, num_head_channels, use_checkpoint)

        ch = int(mults[0] * num_channels)
        self.input_blocks = nn.ModuleList([Stage([nn.Conv2d(output_nc, ch, 3, padding=1)])])
        skips: List[int] = [ch]
        ds = 1
        for level, mult in enumerate(mults):
            for _ in range(num_res_blocks):
                layers = [res(ch, int(mult * num_channels))]
                ch = int(mult * num_channels)
                if ds in attention:
                    layers.append(attend(ch))
                self.input_blocks.append(Stage(layers))
                skips.append(ch)
            if level != len(mults) - 1:
                self.input_blocks.append(Stage([res(ch, ch, resize='down')]))
                skips.append(ch)
                ds *= 2
        self.middle_block = Stage([res(ch, ch, semantic_nc), attend(ch), res(ch, ch, semantic_nc)])
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(mults))[::-1]:
            for index in range(num_res_blocks + 1):
                layers = [res(ch + skips.pop(), int(num_channels * mult), semantic_nc)]
                ch = int(num_channels * mult)
                if ds in attention:
                    layers.append(attend(ch))
                if level and index == num_res_blocks:
                    layers.append(res(ch, ch, semantic_nc, resize='up'))
                    ds //= 2
                self.output_blocks.append(Stage(layers))
        input_width = int(mults[0] * num_channels)
        self.out = nn.Sequential(GroupNorm32(GROUPS, ch), nn.SiLU(),
                                 zeroed(nn.Conv2d(input_width, 2 * output_nc, 3, padding=1)))

    @staticmethod
    def channel_mults(channel_mult: str, size: int) -> Tuple[float, ...]:
        if channel_mult:
            return tuple(int(m) for m in channel_mult.split(','))
        if size not in CHANNEL_MULTS:
            raise UserError(f'images with a short side of {size}: SDM has width multipliers for '
                            f'{", ".join(map(str, sorted(CHANNEL_MULTS)))}; give --channel_mult')
        return CHANNEL_MULTS[size]

    def init_weights(self, init_type: str = 'normal', gain: float = 0.02) -> None:
        """Kept as built: PyTorch's initialisation and the zeroed layers, as the public code (--init_type is the
        pix2pix family's)."""

    def prepare_for_inference(self, device: torch.device) -> None:
        """Synthesis on the CPU (--memory_format auto): weights and activations channels-last, where oneDNN's
        convolutions run faster (docs/performance.md); the same numbers to rounding. Training keeps the contiguous
        layout (channels-last activations alone were not faster there)."""
        if self.memory_format is None and device.type == 'cpu':
            self.to(memory_format=torch.channels_last)
            self.activation_layout = torch.channels_last

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        dtype = self.time_embed[0].weight.dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels, at_least_float32(dtype)).to(dtype))
        layout = self.activation_layout
        label, h = label.to(dtype).contiguous(memory_format=layout), x.to(dtype).contiguous(memory_format=layout)
        label = LabelPyramid(label, lookup=not torch.is_grad_enabled())  # training convolves, as the public code
        skips = []
        for stage in self.input_blocks:
            h = stage(h, emb, label)
            skips.append(h)
        h = self.middle_block(h, emb, label)
        for stage in self.output_blocks:
            h = stage(torch.cat([h, skips.pop()], dim=1), emb, label)
        return self.out(h.to(x.dtype)).contiguous()
