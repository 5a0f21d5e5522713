"""Exported models: the generator (and style encoder) as ONNX files for onnxruntime.

    <folder>/config.json        the model spec (as in a model folder, models.spec)
    <folder>/generator.onnx     (semantics (N, C, H, W) float32, z (N, z_dim) float32) -> image (N, 3, H, W) in [-1, 1]
    <folder>/encoder.onnx       photo (N, 3, H, W) float32 in [-1, 1] -> (mu, logvar) (N, z_dim); models with a VAE

The batch size is dynamic; sizes and channels are the model's. The graphs come from torch.export (the dynamo ONNX
exporter): the TorchScript exporter fails on the generator's per-pixel convolution, as it does on the reference's
Unfold (pytorch #22862, #81871). `Synthesizer.from_pretrained(folder, backend='onnxruntime')` runs such a folder.
(No torch.export `.pt2` programs: torch.export.load falls back to unpickling arbitrary objects, which a file a user
hands us must never get to do, and a format we will not load is not worth writing.)
"""
import copy
import os
import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from util.errors import UserError, exception_reason
from util.util import image_size
from .sources import EXPORTED_FILES
from .spec import ModelSpec

# Largest |exported - PyTorch| accepted after an export: an eighth of an 8-bit level of the [-1, 1] image. float32
# reordering gave 7e-7 on a small model and 4.8e-5 on the full-size COCO model (random weights), where 1e-4 would
# leave little room for trained weights; an export that computes something else differs by far more.
TOLERANCE = 1e-3


class GeneratorGraph(torch.nn.Module):
    """The generator with its inputs as positional tensors (what an exported graph takes)."""

    def __init__(self, netG: torch.nn.Module, takes_code: bool):
        super().__init__()
        self.netG, self.takes_code = netG, takes_code

    def forward(self, semantics: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.netG(semantics, z=z if self.takes_code else None)


def frozen_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A float32 CPU copy in eval mode whose spectral-normalised weights are plain tensors: in eval mode the hook
    divides by the stored estimate of sigma, which is what the copy holds (same values, a graph without the hook)."""
    from torch.nn.utils import remove_spectral_norm
    from torch.nn.utils.spectral_norm import SpectralNorm
    module = copy.deepcopy(module).cpu().float().eval()
    for layer in list(module.modules()):
        if any(isinstance(hook, SpectralNorm) for hook in layer._forward_pre_hooks.values()):
            remove_spectral_norm(layer)
    return module


def example_inputs(synthesizer, batch: int = 2) -> Dict[str, Tuple[torch.Tensor, ...]]:
    """Inputs of the right sizes for tracing (a batch of 2, so that the batch dimension is not specialised)."""
    width, height = synthesizer.size
    label = torch.arange(width * height).reshape(1, 1, height,
                                                 width) // max(1, width * height // len(synthesizer.labels))
    label = label.clamp(max=len(synthesizer.labels) - 1).expand(batch, 1, height, width)
    semantics = synthesizer.semantics(label).cpu()
    inputs = {'G': (semantics, torch.randn(batch, synthesizer.netG.z_dim)) if synthesizer.takes_code else (semantics,)}
    if synthesizer.encodes_photos:
        inputs['E'] = (torch.rand(batch, synthesizer.output_nc, height, width) * 2 - 1,)
    return inputs


def input_names(label: str, count: int) -> List[str]:
    return ['photo'] if label == 'E' else ['semantics', 'z'][:count]


def output_names(label: str) -> List[str]:
    return ['mu', 'logvar'] if label == 'E' else ['image']


def export(synthesizer, folder: str) -> List[str]:
    """Write the synthesizer's networks into `folder` as ONNX files; returns the files."""
    modules = {'G': frozen_copy(GeneratorGraph(synthesizer.netG, synthesizer.takes_code))}
    if synthesizer.netE is not None:
        modules['E'] = frozen_copy(synthesizer.netE)
    inputs = example_inputs(synthesizer)
    written = []
    for label, module in modules.items():
        batch = torch.export.Dim('batch', min=1, max=1024)
        shapes = tuple({0: batch} for _ in inputs[label])
        path = os.path.join(folder, EXPORTED_FILES[label])
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings('ignore',
                                    message='# The axis name')  # the encoder's and generator's batch axes share a name
            # optimize=False: onnxscript's rewrite passes took about half the export time, and onnxruntime
            # optimizes the graph itself when a session starts (measured: the same time per image, a file 1 % larger).
            torch.onnx.export(module, inputs[label], path, input_names=input_names(label, len(inputs[label])),
                              output_names=output_names(label), dynamic_shapes=shapes, dynamo=True, optimize=False,
                              external_data=False, verbose=False)
        written.append(path)
    return written


class OnnxRuntimeNetwork:
    """An exported network run by onnxruntime, called as the PyTorch one is (tensors in, tensors out)."""

    def __init__(self, path: str, device: torch.device):
        import onnxruntime
        if not os.path.isfile(path):
            raise UserError(f'{path}: no such file: export the model with scripts/export.py --format onnx')
        providers = ['CPUExecutionProvider']
        if device.type == 'cuda' and 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
            providers.insert(0, ('CUDAExecutionProvider', {'device_id': device.index or 0}))
        options = onnxruntime.SessionOptions()
        # Errors only: its graph optimiser's notes ("Could not find a CPU kernel ... constant fold") are not the
        # user's business.
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(path, sess_options=options, providers=providers)
        except Exception as exc:
            raise UserError(f'{path} is not a readable ONNX model ({exception_reason(exc)}): export it again') from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.device = device

    def run(self, *tensors: Optional[torch.Tensor]) -> List[torch.Tensor]:
        feed = {name: t.detach().float().cpu().numpy() for name, t in zip(self.inputs, tensors) if t is not None}
        return [torch.from_numpy(np.asarray(out)).to(self.device) for out in self.session.run(None, feed)]


class OnnxRuntimeGenerator(OnnxRuntimeNetwork):
    """generator.onnx with the generator's contract (models.networks): `output_size`, `z_dim`,
    (semantics, z) -> image."""

    def __init__(self, path: str, device: torch.device, spec: ModelSpec):
        super().__init__(path, device)
        self.output_size = image_size(spec.inputs.crop_size, spec.inputs.aspect_ratio)
        self.z_dim = spec.code_dim

    def __call__(self, semantics: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        if 'z' in self.inputs and z is None:
            z = torch.randn(semantics.shape[0], self.z_dim)
        return self.run(semantics, z)[0]


class OnnxRuntimeEncoder(OnnxRuntimeNetwork):
    """encoder.onnx: photo -> (mu, logvar), as the style encoder."""

    def __call__(self, photo: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.run(photo)
        return mu, logvar
