"""Building blocks: the conditional-convolution residual block and the VGG19 feature extractor."""
import os
import zipfile
from typing import Callable, List, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm
from torch.utils.checkpoint import checkpoint

from util.errors import UserError
from .condconv import TAPS, DepthConv, predicted_depthwise_conv, tap_major_conv2d
from .normalization import SPADE, spade_from_config

PREDICTOR_HIDDEN = 128


def predictor(in_channels: int, out_channels: int, sigmoid: bool = False) -> nn.Sequential:
    """conv3x3 -> ReLU -> conv3x3 [-> sigmoid]: predicts kernels or attention maps from the label features."""
    layers = [nn.Conv2d(in_channels, PREDICTOR_HIDDEN, 3, padding=1), nn.ReLU(),
              nn.Conv2d(PREDICTOR_HIDDEN, out_channels, 3, padding=1)]
    if sigmoid:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def uses_lean_kernels(predictor_impl: str, depthconv_impl: str) -> bool:
    """Whether blocks with these implementations (the fused predictors and the lean convolution) predict their
    kernels in the order that suits the lean convolution: with autograd whole maps, tap-major when the activations
    are channels-last; without, a tap at a time (predicted_depthwise_conv, never holding a whole kernel map).
    The generator then runs channels-last on CPU. The reference formulations keep the released code's order of work."""
    return predictor_impl == 'fused' and depthconv_impl == 'lean'


def fused_first_layers(convs: Sequence[nn.Conv2d], cond: torch.Tensor,
                       input_channels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, ...]:
    """Several 3x3 convolutions of the same input (all with biases, or a single one without) run as one,
    optionally on a subset of their input channels.

    `input_channels` lists which of the convolutions' input channels `cond` holds; the others must be zero everywhere,
    so leaving them out changes only the summation order.
    """
    weight = torch.cat([conv.weight for conv in convs])
    if input_channels is not None:
        weight = weight.index_select(1, input_channels)
    bias = None if convs[0].bias is None else torch.cat([conv.bias for conv in convs])
    out = F.conv2d(cond, weight, bias, padding=1)
    return out.split([conv.out_channels for conv in convs], dim=1)


class DepthsepCCBlock(nn.Module):
    """Residual block of two depthwise-separable conditional convolutions.

    Each half: batch norm -> depthwise 3x3 with per-pixel predicted kernels -> pointwise 1x1 -> times a predicted
    sigmoid attention map -> leaky ReLU. The shortcut is learned (SPADE + spectral-norm 1x1) when widths differ.
    All predictors (and the shortcut's SPADE) read the same conditioning map: the label map and the pyramid
    features at the block's resolution.
    """

    def __init__(self,
                 fin: int,                                       # input channels
                 fout: int,                                      # output channels
                 semantic_nc: int,                               # channels of the conditioning map
                 batch_norm: Type[nn.Module] = nn.BatchNorm2d,   # or SyncBatchNorm
                 depthconv_impl: str = 'lean',                   # see condconv.conditional_depthwise_conv
                 predictor_impl: str = 'fused',                  # 'fused' first layers, or one conv each
                 recompute_predictions: bool = False):           # recompute the kernel maps in backward
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)

        self.gen_weights1 = predictor(semantic_nc, fin * TAPS)
        self.gen_weights2 = predictor(semantic_nc, fout * TAPS)
        self.gen_se_weights1 = predictor(semantic_nc, fmiddle, sigmoid=True)
        self.gen_se_weights2 = predictor(semantic_nc, fout, sigmoid=True)

        self.conv_0 = DepthConv(fin, depthconv_impl, batch_norm)
        # Kept unused: present in the released checkpoints (the reference builds it and never applies it). Its
        # parameters take no gradient, so that DDP need not search every step for parameters without one.
        self.norm_0 = batch_norm(fmiddle, affine=True).requires_grad_(False)
        self.conv_1 = nn.Conv2d(fin, fmiddle, kernel_size=1)
        self.norm_1 = batch_norm(fin, affine=True)
        # Its kernels are predicted for fout channels (gen_weights2), which equals fmiddle because widths never grow.
        self.conv_2 = DepthConv(fmiddle, depthconv_impl, batch_norm)
        self.norm_2 = batch_norm(fmiddle, affine=True)
        self.conv_3 = nn.Conv2d(fmiddle, fout, kernel_size=1)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
            self.norm_s = SPADE(fin, semantic_nc, batch_norm)
        self.fused = predictor_impl == 'fused'
        self.lean_kernels = uses_lean_kernels(predictor_impl, depthconv_impl)
        self.recompute_predictions = recompute_predictions

    def branches(self) -> List[nn.Sequential]:
        """Everything that reads the conditioning map, each starting with a 3x3 conv: kernels and attention of
        the first half, of the second half, then the shortcut's SPADE."""
        branches = [self.gen_weights1, self.gen_se_weights1, self.gen_weights2, self.gen_se_weights2]
        if self.learned_shortcut:
            branches.append(self.norm_s.mlp_shared)
        return branches

    def first_layers(self, cond: torch.Tensor, input_channels: Optional[torch.Tensor]) -> Callable[[int], torch.Tensor]:
        """A function giving the output of branch i's first convolution.

        With autograd all five are computed at once (backward keeps them anyway). Without, each is computed when
        asked for, so that only one is alive at a time.
        """
        branches = self.branches()
        if not self.fused:
            return lambda index: branches[index][0](cond)
        if torch.is_grad_enabled():
            return fused_first_layers([branch[0] for branch in branches], cond, input_channels).__getitem__
        return lambda index: fused_first_layers([branches[index][0]], cond, input_channels)[0]

    def conditional_conv(self, conv: DepthConv, branch: nn.Sequential, x: torch.Tensor, first: torch.Tensor,
                         tap_major: bool) -> torch.Tensor:
        """x convolved with the kernels that `branch` predicts from its first layer's output `first`; with the lean
        kernels and autograd, a whole kernel map tap-major if asked."""
        last = branch[2]
        if self.lean_kernels and not torch.is_grad_enabled():
            # Nothing else reads `first`, so branch[1] (ReLU) can run in place.
            return predicted_depthwise_conv(x, F.relu(first, inplace=True), last.weight, last.bias, conv.stride)

        def apply(x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
            if not (self.lean_kernels and tap_major):
                return conv(x, last(hidden))
            # Tap-major, each tap's kernels are C adjacent channels of the map, so that channels-last the lean
            # convolution reads them contiguously (channel-major they would be every ninth channel). Contiguous,
            # a tap's kernels are whole H x W planes in either order, and the released order needs no reordering.
            kernels = tap_major_conv2d(hidden, last.weight, last.bias, last.padding[0])
            return conv(x, kernels, tap_major=True)
        # branch[1] (ReLU) runs first: `first` is a view of the five branches' fused output, and what is kept for
        # backward should be this branch's hidden map, not all five.
        hidden = branch[1](first)
        if self.recompute_predictions and torch.is_grad_enabled():
            # The per-pixel kernels are the largest activations: recompute them in backward instead of keeping them.
            return checkpoint(apply, x, hidden, use_reentrant=False)
        return apply(x, hidden)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, input_channels: Optional[torch.Tensor] = None,
                tap_major: bool = False) -> torch.Tensor:
        """`cond`: the conditioning map at x's resolution; `input_channels`: see fused_first_layers; `tap_major`: see
        conditional_conv (the generator asks for it channels-last).

        The predictors run just before their output is used, so that without autograd only one branch's
        output is alive at a time.
        """
        first = self.first_layers(cond, input_channels)
        dx = self.conditional_conv(self.conv_0, self.gen_weights1, self.norm_1(x), first(0), tap_major)
        # In place: the product is kept for backward once, as the activation's output (autograd allows it).
        dx = F.leaky_relu_(self.conv_1(dx) * self.gen_se_weights1[1:](first(1)), 0.2)
        dx = self.conditional_conv(self.conv_2, self.gen_weights2, self.norm_2(dx), first(2), tap_major)
        dx = F.leaky_relu(self.conv_3(dx) * self.gen_se_weights2[1:](first(3)), 0.2)
        if not self.learned_shortcut:
            return x + dx
        return self.conv_s(self.norm_s.modulate(x, self.norm_s.mlp_shared[1:](first(4)))) + dx


class SPADEResnetBlock(nn.Module):
    """SPADE's residual block (`--netG spade`): SPADE -> leaky ReLU -> 3x3 conv, twice; a learned shortcut
    (SPADE -> 1x1 conv) when widths differ. Convolutions are spectral-normalised when `norm_G` says 'spectral'."""

    def __init__(self,
                 fin: int,              # input channels
                 fout: int,             # output channels
                 semantic_nc: int,      # channels of the label map
                 norm_G: str,           # e.g. 'spectralspadesyncbatch3x3'
                 sync_bn: bool = False):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        wrap = spectral_norm if 'spectral' in norm_G else (lambda layer: layer)
        config = norm_G.replace('spectral', '')
        self.conv_0 = wrap(nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1))
        self.conv_1 = wrap(nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1))
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
        self.norm_0 = spade_from_config(config, fin, semantic_nc, sync_bn)
        self.norm_1 = spade_from_config(config, fmiddle, semantic_nc, sync_bn)
        if self.learned_shortcut:
            self.norm_s = spade_from_config(config, fin, semantic_nc, sync_bn)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


# Last layer index (exclusive) of each VGG19 slice: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
VGG_SLICE_ENDS = (2, 7, 12, 21, 30)


def load_vgg19_features(weights_path: str = '') -> nn.Sequential:
    """VGG19's conv layers with ImageNet weights: from `weights_path` if given, else torchvision's download cache.

    Only the conv part is built and loaded: the classifier (120 M of VGG19's 144 M parameters) is never used.
    """
    import torchvision
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs['E'])
    if weights_path:
        if not os.path.isfile(weights_path):
            raise UserError(f'--vgg_weights {weights_path}: no such file')
        # Memory-mapped when the format allows, so that the classifier's weights are never read.
        state = torch.load(weights_path, map_location='cpu', weights_only=True, mmap=zipfile.is_zipfile(weights_path))
    else:
        try:
            state = torchvision.models.VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # no network and nothing cached: any download error lands here
            raise UserError("VGG19 ImageNet weights are not available offline ("
                            f"{type(exc).__name__}): pass --vgg_weights PATH (a torchvision vgg19 state_dict) "
                            "or train without the VGG loss (--no_vgg_loss)") from None
    prefix = 'features.'
    try:
        features.load_state_dict({key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)})
    except (RuntimeError, AttributeError):
        raise UserError(f'--vgg_weights {weights_path}: not a torchvision vgg19 state_dict') from None
    return features


class VGG19(nn.Module):
    """Frozen VGG19 returning relu1_1 .. relu5_1 activations."""

    def __init__(self, weights_path: str = '', requires_grad: bool = False):
        super().__init__()
        features = load_vgg19_features(weights_path)
        starts = (0,) + VGG_SLICE_ENDS[:-1]
        for index, (start, end) in enumerate(zip(starts, VGG_SLICE_ENDS), start=1):
            self.add_module(f'slice{index}', nn.Sequential(*[features[i] for i in range(start, end)]))
        for param in self.parameters():
            param.requires_grad = requires_grad

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        outputs = []
        for index in range(1, len(VGG_SLICE_ENDS) + 1):
            x = getattr(self, f'slice{index}')(x)
            outputs.append(x)
        return outputs
