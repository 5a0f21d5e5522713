"""Label-map files a user hands us: grey or palette-mode PNGs of class ids, or colour PNGs in the model's palette;
instance maps; photos for style. Read at the model's size as the loaders do at test time (nearest for maps,
bicubic for photos), checked, and reported in one line naming the file when they cannot be used."""
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from util.util import MAX_INPUT_PIXELS
from .base_dataset import image_to_tensor
from .classes import LabelSet
from .errors import DatasetError
from .image_folder import is_image_file, natural_keys, open_image

Size = Tuple[int, int]  # (width, height)


def list_image_files(paths: Sequence[str], option: str) -> List[str]:
    """The image files among `paths` and inside the folders among them, each folder in natural order."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted((os.path.join(path, f) for f in os.listdir(path) if is_image_file(f)), key=natural_keys)
            if not found:
                raise DatasetError(f'{option} {path}: the folder holds no images (.png, .jpg, ...)')
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)  # a pipe or device is named when it is read (util.user_files), never opened
        else:
            raise DatasetError(f'{option} {path}: no such file or folder')
    return files


def _colors_to_file_values(rgb: np.ndarray, labels: LabelSet, path: str) -> np.ndarray:
    """(H, W, 3) colours -> (H, W) label-file values; every colour must be one of the model's classes'."""
    palette = labels.file_palette()
    values_of_color: Dict[int, int] = {}
    for channel in range(len(labels)):  # the lowest class wins where a palette repeats a colour
        value = labels.file_value_of_channel(channel)
        code = int(palette[value, 0]) << 16 | int(palette[value, 1]) << 8 | int(palette[value, 2])
        values_of_color.setdefault(code, value)
    codes = rgb[..., 0].astype(np.int64) << 16 | rgb[..., 1].astype(np.int64) << 8 | rgb[..., 2].astype(np.int64)
    unique, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    unknown = [i for i, code in enumerate(unique) if int(code) not in values_of_color]
    if unknown:
        worst = max(unknown, key=lambda i: counts[i])
        color = np.array([(unique[worst] >> shift) & 255 for shift in (16, 8, 0)])
        nearest = int(np.argmin(((labels.colors.astype(np.int64) - color) ** 2).sum(1)))
        raise DatasetError(
            f'label map {path}: colour {tuple(int(c) for c in color)} ({counts[worst]} pixels'
            f'{f", and {len(unknown) - 1} more colours" if len(unknown) > 1 else ""}) is not in the model\'s palette '
            f'(nearest class: {nearest} "{labels.names[nearest]}" {tuple(int(c) for c in labels.colors[nearest])}): '
            'paint with the palette\'s colours (--list_classes) or save class ids as a grey PNG')
    lookup = np.array([values_of_color[int(code)] for code in unique], dtype=np.int64)
    return lookup[inverse].reshape(codes.shape)


def read_label_map(path: str, labels: LabelSet, size: Size, max_pixels: int = MAX_INPUT_PIXELS) -> torch.Tensor:
    """(1, H, W) float tensor of the channels the model reads (255 -> don't care, as the loaders), resized with
    nearest neighbour to `size`."""
    img = open_image(path, 'label map', max_pixels=max_pixels)
    if img.format == 'JPEG':
        rgb = np.array(img.convert('RGB'))
        if not (rgb == rgb[..., :1]).all():  # colours: ids read from them would be ids nobody wrote
            colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
            raise DatasetError(f'label map {path} is a JPEG colour map: its lossy compression blends the class colours '
                               f'({colours} distinct colours; the model\'s palette has {len(labels)}): save the label '
                               'map as a PNG')
        raise DatasetError(f'label map {path} is a JPEG: its lossy compression changes class ids at region edges '
                           f'({lossy_values_note(rgb[..., 0], labels)}): save the label map as a PNG')
    if img.mode in ('L', 'P', 'I', 'I;16'):
        values = np.array(img).astype(np.int64)
    elif img.mode in ('RGB', 'RGBA'):
        rgb = np.array(img.convert('RGB'))
        try:
            values = _colors_to_file_values(rgb, labels, path)
        except DatasetError:
            if not (rgb == rgb[..., :1]).all():
                raise
            values = rgb[..., 0].astype(np.int64)  # class ids saved as a grey RGB image
    else:
        raise DatasetError(f'label map {path} is a {img.mode} image: save class ids as a grey (or palette) PNG, '
                           'or colours of the model\'s palette as an RGB PNG')
    return file_values_to_channels(values, labels, size, path)


def lossy_values_note(values: np.ndarray, labels: LabelSet) -> str:
    """What a lossily compressed label map holds that a label map should not: its ids no class has, or how many
    distinct ids it has (JPEG blends neighbouring ids into new ones)."""
    found = np.unique(values)
    stray = [int(v) for v in found if labels.channel_of_file_value(int(v)) is None]
    if stray:
        return f'stray ids {", ".join(map(str, stray[:8]))}{" ..." if len(stray) > 8 else ""}'
    return f'{len(found)} distinct ids'


# Colours compared with the class colours at a time when snapping: bounds the distance table (chunk x classes).
SNAP_CHUNK = 65536
RGB_WEIGHTS = np.array([1 << 16, 1 << 8, 1], dtype=np.int64)  # an 8-bit colour as one integer, 0xRRGGBB


def snap_to_palette(rgb: np.ndarray, labels: LabelSet) -> np.ndarray:
    """(H, W, 3) colours -> (H, W) label-file values. For painted maps: a brush's anti-aliased edges blend two class
    colours, so every pixel goes to the nearest colour among the classes that appear unblended in the painting (the
    nearest of all class colours could be a third class, which nobody painted); all classes if none appears. Memory
    is a few times the image's, whatever its colours: each distinct colour is compared with the classes' in chunks."""
    codes = rgb.reshape(-1, 3).astype(np.int64) @ RGB_WEIGHTS
    unique, inverse = np.unique(codes, return_inverse=True)
    class_codes = labels.colors.astype(np.int64) @ RGB_WEIGHTS
    painted = np.flatnonzero(np.isin(class_codes, unique))
    painted = painted if painted.size else np.arange(len(class_codes))
    palette = labels.colors.astype(np.float64)[painted]
    # |c - p|^2 = |c|^2 - 2 c.p + |p|^2: the nearest p minimises |p|^2 - 2 c.p, a matrix product (exact in float64
    # for 8-bit colours, so ties go to the lower class as before)
    offsets = (palette ** 2).sum(1)
    nearest = np.empty(unique.size, dtype=np.int64)
    for start in range(0, unique.size, SNAP_CHUNK):
        chunk = unique[start:start + SNAP_CHUNK]
        colours = np.stack([chunk >> 16, (chunk >> 8) & 255, chunk & 255], axis=1).astype(np.float64)
        nearest[start:start + SNAP_CHUNK] = painted[(offsets - 2 * colours @ palette.T).argmin(1)]
    values = np.array([labels.file_value_of_channel(int(c)) for c in range(len(class_codes))], dtype=np.int64)
    return values[nearest][inverse.reshape(-1)].reshape(rgb.shape[:2])


def file_values_to_channels(values: np.ndarray, labels: LabelSet, size: Size, path: str) -> torch.Tensor:
    """(H, W) label-file values -> (1, h, w) channels at `size`; a value the model has no class for is an error."""
    channels = np.full(values.shape, -1, dtype=np.int64)
    for value in np.unique(values):
        channel = labels.channel_of_file_value(int(value))
        if channel is None:
            count = len(labels) - (1 if labels.dontcare_channel is not None else 0)
            dontcare = ", 255 = don't care" if labels.dontcare_channel is not None else ''
            raise DatasetError(f'label map {path} has class id {int(value)}, but the model knows {count} classes '
                               f'(ids 0..{count - 1}{dontcare}): relabel those pixels (--list_classes lists the '
                               f'classes)')
        channels[values == value] = channel
    resized = Image.fromarray(channels.astype(np.uint8)).resize(size, Image.NEAREST)
    return torch.from_numpy(np.array(resized).astype(np.float32))[None]


def read_instance_map(path: str, size: Size, max_pixels: int = MAX_INPUT_PIXELS) -> torch.Tensor:
    """(1, H, W) int64 instance ids (8- or 16-bit files), resized with nearest neighbour."""
    img = open_image(path, 'instance map', max_pixels=max_pixels)
    if img.mode not in ('L', 'P', 'I', 'I;16'):
        raise DatasetError(f'instance map {path} is a {img.mode} image: save instance ids as a grey PNG (8 or 16 bit)')
    ids = np.array(img.convert('I') if img.mode == 'I;16' else img).astype(np.int32)
    resized = Image.fromarray(ids).resize(size, Image.NEAREST)
    return torch.from_numpy(np.array(resized).astype(np.int64))[None]


def read_photo(path: str, size: Size, channels: int = 3, max_pixels: int = MAX_INPUT_PIXELS) -> torch.Tensor:
    """(C, H, W) in [-1, 1], resized bicubic to `size` as the loaders resize photos."""
    img = open_image(path, 'style photo', max_pixels=max_pixels).convert('RGB' if channels == 3 else 'L')
    return image_to_tensor(img.resize(size, Image.BICUBIC))


def render_label_map(channels: torch.Tensor, labels: LabelSet) -> Image.Image:
    """A palette-mode PNG image: its pixel values are the label-file values (so it reads back as the same map)
    and its palette the classes' colours (so it shows in colour)."""
    values = np.vectorize(labels.file_value_of_channel)(channels.squeeze(0).long().numpy()).astype(np.uint8)
    img = Image.frombytes('P', (values.shape[1], values.shape[0]), values.tobytes())
    img.putpalette(labels.file_palette().flatten().tolist())
    return img
