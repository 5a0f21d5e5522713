"""Building blocks: the conditional-convolution residual block and the VGG19 feature extractor."""
import argparse
import os
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm
from torch.utils.checkpoint import checkpoint

from util.errors import UserError
from .condconv import TAPS, DepthConv
from .normalization import SPADE, batch_norm_class

PREDICTOR_HIDDEN = 128


def predictor(in_channels: int, out_channels: int, sigmoid: bool = False) -> nn.Sequential:
    """conv3x3 -> ReLU -> conv3x3 [-> sigmoid]: predicts kernels or attention maps from the label features."""
    layers = [nn.Conv2d(in_channels, PREDICTOR_HIDDEN, 3, padding=1), nn.ReLU(),
              nn.Conv2d(PREDICTOR_HIDDEN, out_channels, 3, padding=1)]
    if sigmoid:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class DepthsepCCBlock(nn.Module):
    """Residual block of two depthwise-separable conditional convolutions.

    Each half: batch norm -> depthwise 3x3 with per-pixel predicted kernels -> pointwise 1x1 -> times a predicted
    sigmoid attention map -> leaky ReLU. The shortcut is learned (SPADE + spectral-norm 1x1) when widths differ.
    """

    def __init__(self, fin: int, fout: int, opt: argparse.Namespace, semantic_nc: int):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        BatchNorm = batch_norm_class(opt)

        self.gen_weights1 = predictor(semantic_nc, fin * TAPS)
        self.gen_weights2 = predictor(semantic_nc, fout * TAPS)
        self.gen_se_weights1 = predictor(semantic_nc, fmiddle, sigmoid=True)
        self.gen_se_weights2 = predictor(semantic_nc, fout, sigmoid=True)

        self.conv_0 = DepthConv(fin, opt)
        # Kept unused: present in the released checkpoints (the reference builds it and never applies it).
        self.norm_0 = BatchNorm(fmiddle, affine=True)
        self.conv_1 = nn.Conv2d(fin, fmiddle, kernel_size=1)
        self.norm_1 = BatchNorm(fin, affine=True)
        # Its kernels are predicted for fout channels (gen_weights2), which equals fmiddle because widths never grow.
        self.conv_2 = DepthConv(fmiddle, opt)
        self.norm_2 = BatchNorm(fmiddle, affine=True)
        self.conv_3 = nn.Conv2d(fmiddle, fout, kernel_size=1)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
            self.norm_s = SPADE(fin, semantic_nc, opt)
        self.recompute_predictions = getattr(opt, 'checkpoint_predictors', False)

    def predict(self, segmap: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Per-pixel kernels and attention maps of both halves of the block."""
        return (self.gen_weights1(segmap), self.gen_se_weights1(segmap),
                self.gen_weights2(segmap), self.gen_se_weights2(segmap))

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        segmap = F.interpolate(seg, size=x.shape[2:], mode='nearest')
        if self.recompute_predictions and torch.is_grad_enabled():
            # Keeps only the predictions for backward and recomputes the predictors' hidden layers.
            kernels1, attention1, kernels2, attention2 = checkpoint(self.predict, segmap, use_reentrant=False)
        else:
            kernels1, attention1, kernels2, attention2 = self.predict(segmap)
        shortcut = self.conv_s(self.norm_s(x, segmap)) if self.learned_shortcut else x

        dx = self.conv_0(self.norm_1(x), kernels1)
        dx = F.leaky_relu(self.conv_1(dx) * attention1, 0.2)
        dx = self.conv_2(self.norm_2(dx), kernels2)
        dx = F.leaky_relu(self.conv_3(dx) * attention2, 0.2)
        return shortcut + dx


# Last layer index (exclusive) of each VGG19 slice: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
VGG_SLICE_ENDS = (2, 7, 12, 21, 30)


def load_vgg19_features(weights_path: str = '') -> nn.Sequential:
    """VGG19's conv layers with ImageNet weights: from `weights_path` if given, else torchvision's download cache."""
    import torchvision
    model = torchvision.models.vgg19()
    if weights_path:
        if not os.path.isfile(weights_path):
            raise UserError(f'--vgg_weights {weights_path}: no such file')
        state = torch.load(weights_path, map_location='cpu', weights_only=True)
    else:
        try:
            state = torchvision.models.VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # no network and nothing cached: any download error lands here
            raise UserError("VGG19 ImageNet weights are not available offline ("
                            f"{type(exc).__name__}): pass --vgg_weights PATH (a torchvision vgg19 state_dict) "
                            "or train without the VGG loss (--no_vgg_loss)") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise UserError(f'--vgg_weights {weights_path}: not a torchvision vgg19 state_dict') from None
    return model.features


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
