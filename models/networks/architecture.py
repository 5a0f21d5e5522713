"""Building blocks: the conditional-convolution residual block and the VGG19 feature extractor."""
import os
import zipfile
from typing import Callable, List, Optional, Type

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from util.checkpoint import load_tensor_file
from util.errors import UserError
from util.vision import require_torchvision
from .condconv import TAPS, DepthConv
from .normalization import SPADE, spade_from_config
from .predictor import PREDICTOR_NC, Predictor, fused_first_layers, predictor


def uses_lean_kernels(predictor_impl: str, depthconv_impl: str) -> bool:
    """Whether blocks with these implementations (the fused predictors and the lean convolution) predict their
    kernels in the order that suits the lean convolution: with autograd whole maps, tap-major when the activations
    are channels-last; without, a tap at a time (predicted_depthwise_conv, never holding a whole kernel map).
    The generator then runs channels-last on CPU under bf16. The reference formulations keep the released code's
    order of work."""
    return predictor_impl == 'fused' and depthconv_impl == 'lean'


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
                 checkpoint_predictors: bool = False,            # recompute the kernel maps in backward
                 predictor_nc: int = PREDICTOR_NC):              # hidden width of the kernel and attention predictors
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)

        self.gen_weights1 = predictor(semantic_nc, fin * TAPS, hidden_nc=predictor_nc)
        self.gen_weights2 = predictor(semantic_nc, fout * TAPS, hidden_nc=predictor_nc)
        self.gen_se_weights1 = predictor(semantic_nc, fmiddle, sigmoid=True, hidden_nc=predictor_nc)
        self.gen_se_weights2 = predictor(semantic_nc, fout, sigmoid=True, hidden_nc=predictor_nc)

        self.lean_kernels = uses_lean_kernels(predictor_impl, depthconv_impl)
        self.conv_0 = DepthConv(fin, depthconv_impl, batch_norm, per_tap=self.lean_kernels,
                                checkpoint_predictors=checkpoint_predictors)
        # Kept unused: present in the released checkpoints (the reference builds it and never applies it). Its
        # parameters take no gradient, so that DDP need not search every step for parameters without one.
        self.norm_0 = batch_norm(fmiddle, affine=True).requires_grad_(False)
        self.conv_1 = nn.Conv2d(fin, fmiddle, kernel_size=1)
        self.norm_1 = batch_norm(fin, affine=True)
        # Its kernels are predicted for fout channels (gen_weights2), which equals fmiddle because widths never grow.
        self.conv_2 = DepthConv(fmiddle, depthconv_impl, batch_norm, per_tap=self.lean_kernels,
                                checkpoint_predictors=checkpoint_predictors)
        self.norm_2 = batch_norm(fmiddle, affine=True)
        self.conv_3 = nn.Conv2d(fmiddle, fout, kernel_size=1)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
            self.norm_s = SPADE(fin, semantic_nc, batch_norm)
        self.fused = predictor_impl == 'fused'

    def branches(self) -> List[Predictor]:
        """Everything that reads the conditioning map: kernels and attention of the first half, of the second
        half, then the shortcut's SPADE."""
        branches = [self.gen_weights1, self.gen_se_weights1, self.gen_weights2, self.gen_se_weights2]
        if self.learned_shortcut:
            branches.append(self.norm_s.mlp_shared)
        return branches

    def first_layers(self, cond: torch.Tensor, input_channels: Optional[torch.Tensor]) -> Callable[[int], torch.Tensor]:
        """A function giving the output of branch i's head.

        With autograd all five are computed at once (backward keeps them anyway). Without, each is computed when
        asked for, so that only one is alive at a time.
        """
        branches = self.branches()
        if not self.fused:
            return lambda index: branches[index].head(cond)
        if torch.is_grad_enabled():
            return fused_first_layers([branch.head for branch in branches], cond, input_channels).__getitem__
        return lambda index: fused_first_layers([branches[index].head], cond, input_channels)[0]

    def conditional_conv(self, conv: DepthConv, kernel_predictor: Predictor, x: torch.Tensor, first: torch.Tensor,
                         tap_major: bool) -> torch.Tensor:
        """x convolved with the kernels that `kernel_predictor` predicts from its head's output `first`."""
        # Its ReLU runs first: `first` is a view of the five branches' fused output, and what backward keeps
        # should be this branch's hidden map, not all five. Without autograd, per tap, nothing else reads `first`
        # and it runs in place.
        hidden = F.relu(first, inplace=self.lean_kernels and not torch.is_grad_enabled())
        return conv(x, hidden, kernel_predictor.last, tap_major)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, input_channels: Optional[torch.Tensor] = None,
                tap_major: bool = False) -> torch.Tensor:
        """`cond`: the conditioning map at x's resolution; `input_channels`: see fused_first_layers; `tap_major`:
        kernel maps tap-major (the generator asks for it channels-last; see condconv.predicted_conditional_conv).

        The predictors run just before their output is used, so that without autograd only one branch's
        output is alive at a time.
        """
        first = self.first_layers(cond, input_channels)
        dx = self.conditional_conv(self.conv_0, self.gen_weights1, self.norm_1(x), first(0), tap_major)
        # In place: the product is kept for backward once, as the activation's output (autograd allows it).
        dx = F.leaky_relu_(self.conv_1(dx) * self.gen_se_weights1.tail(first(1)), 0.2)
        dx = self.conditional_conv(self.conv_2, self.gen_weights2, self.norm_2(dx), first(2), tap_major)
        dx = F.leaky_relu(self.conv_3(dx) * self.gen_se_weights2.tail(first(3)), 0.2)
        if not self.learned_shortcut:
            return x + dx
        return self.conv_s(self.norm_s.modulate(x, self.norm_s.mlp_shared.tail(first(4)))) + dx


class SPADEResnetBlock(nn.Module):
    """SPADE's residual block (`--netG spade`): SPADE -> leaky ReLU -> 3x3 conv, twice; a learned shortcut
    (SPADE -> 1x1 conv) when widths differ. Convolutions are spectral-normalised when `norm_G` says 'spectral'."""

    def __init__(self,
                 fin: int,              # input channels
                 fout: int,             # output channels
                 semantic_nc: int,      # channels of the label map
                 norm_G: str,           # e.g. 'spectralspadesyncbatch3x3'
                 sync_bn: bool = False,
                 spade_norm_name: str = 'param_free_norm'):  # checkpoint name of SPADE's norm (OASIS: 'first_norm')
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        wrap = spectral_norm if 'spectral' in norm_G else (lambda layer: layer)
        config = norm_G.replace('spectral', '')
        self.conv_0 = wrap(nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1))
        self.conv_1 = wrap(nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1))
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
        self.norm_0 = spade_from_config(config, fin, semantic_nc, sync_bn, spade_norm_name)
        self.norm_1 = spade_from_config(config, fmiddle, semantic_nc, sync_bn, spade_norm_name)
        if self.learned_shortcut:
            self.norm_s = spade_from_config(config, fin, semantic_nc, sync_bn, spade_norm_name)

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
    torchvision = require_torchvision()
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs['E'])
    if weights_path:
        if not os.path.isfile(weights_path):
            raise UserError(f'--vgg_weights {weights_path}: no such file')
        # Memory-mapped when the format allows, so that the classifier's weights are never read.
        state = load_tensor_file(weights_path, 'VGG19 weights file (--vgg_weights)',
                                 mmap=zipfile.is_zipfile(weights_path))
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
    except (RuntimeError, AttributeError, TypeError):
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
