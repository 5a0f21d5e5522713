"""Tensor <-> image conversion, label colourisation, image saving."""
import dataclasses
import os
from typing import Any, Optional, Sequence, Tuple, Type, TypeVar

import numpy as np
import torch
from PIL import Image


# The largest image read from a user's file by default (4096x4096): every input is resized to a model's size (at
# most 2048 wide), and decoding a larger one costs gigabytes however small its file.
MAX_INPUT_PIXELS = 4096 * 4096


def pixel_limit_problem(what: str, size: Tuple[int, int], max_pixels: int) -> Optional[str]:
    """The one-line reason an image of `size` (width, height) is too large to read, or None."""
    width, height = size
    if width * height <= max_pixels:
        return None
    return (f'{what} is {width}x{height} ({width * height / 1e6:.1f} megapixels), above the limit of '
            f'{max_pixels / 1e6:.1f}: downscale it first (it is resized to the model\'s size anyway), or raise '
            '--max_input_pixels')


Settings = TypeVar('Settings')


def settings_from(cls: Type[Settings], values: Any, **changes: Any) -> Settings:
    """Dataclass `cls` whose fields are named as attributes of `values` (parsed options) filled from them; `changes`
    given explicitly."""
    fields = [field for field in dataclasses.fields(cls) if field.init and field.name not in changes]
    # A field with a default may have no such attribute (an option only some models declare): it keeps its default.
    present = [f.name for f in fields if hasattr(values, f.name)
               or f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    return cls(**{name: getattr(values, name) for name in present}, **changes)


def chunks(items: Sequence, size: int) -> list:
    """`items` in consecutive pieces of `size` (the last may be shorter); a range gives ranges."""
    return [items[start:start + size] for start in range(0, len(items), size)]


def tensor2im(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    array = (image.detach().cpu().float().numpy().transpose(1, 2, 0) + 1) / 2.0 * 255.0
    array = np.clip(array, 0, 255).astype(np.uint8)
    return array[:, :, 0] if array.shape[2] == 1 else array


def tensor2label(label: torch.Tensor, colors: np.ndarray) -> np.ndarray:
    """(1, H, W) channel ids or (C, H, W) one-hot -> (H, W, 3) image in the classes' `colors` ((C, 3) uint8)."""
    label = label.detach().cpu()
    ids = label.argmax(0) if label.size(0) > 1 else label[0]
    return colors[ids.long().clamp(0, len(colors) - 1).numpy()]


def tensor2labelgray(label: torch.Tensor) -> np.ndarray:
    """(1, H, W) ids -> (H, W) uint8 ids."""
    return label.detach().cpu()[0].numpy().astype(np.uint8)


def save_image(image, path: str) -> None:
    """Write a (H, W[, 3]) uint8 array or a PIL image to `path` through a temporary file, so that a kill leaves
    either the whole image or none."""
    from util.atomic import atomic_open
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    with atomic_open(path) as f:
        image.save(f, format=Image.registered_extensions()[os.path.splitext(path)[1].lower()])


def image_size(crop_size: int, aspect_ratio: float) -> Tuple[int, int]:
    """(width, height) of the images a model makes: `crop_size` wide, `crop_size / aspect_ratio` high."""
    return crop_size, round(crop_size / aspect_ratio)
