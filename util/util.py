"""Tensor <-> image conversion, label colourisation, image saving."""
import os

import numpy as np
import torch
from PIL import Image

CITYSCAPES_COLORS = [
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81), (128, 64, 128), (244, 35, 232),
    (250, 170, 160), (230, 150, 140), (70, 70, 70), (102, 102, 156), (190, 153, 153), (180, 165, 180), (150, 100, 100),
    (150, 120, 90), (153, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 0, 90), (0, 0, 110),
    (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 142)]


def label_colormap(n: int) -> np.ndarray:
    """(n, 3) uint8 colours: the Cityscapes palette for 35 labels, else the PASCAL bit-interleaving palette."""
    if n == len(CITYSCAPES_COLORS):
        return np.array(CITYSCAPES_COLORS, dtype=np.uint8)
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        code, r, g, b = i + 1, 0, 0, 0  # i + 1 so that label 0 gets a colour
        for bit in range(7):
            r |= ((code >> 0) & 1) << (7 - bit)
            g |= ((code >> 1) & 1) << (7 - bit)
            b |= ((code >> 2) & 1) << (7 - bit)
            code >>= 3
        cmap[i] = (r, g, b)
    return cmap


def tensor2im(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    array = (image.detach().cpu().float().numpy().transpose(1, 2, 0) + 1) / 2.0 * 255.0
    array = np.clip(array, 0, 255).astype(np.uint8)
    return array[:, :, 0] if array.shape[2] == 1 else array


def tensor2label(label: torch.Tensor, num_labels: int) -> np.ndarray:
    """(1, H, W) ids or (C, H, W) one-hot -> (H, W, 3) colour image."""
    label = label.detach().cpu()
    ids = label.argmax(0) if label.size(0) > 1 else label[0]
    return label_colormap(num_labels)[ids.long().clamp(0, num_labels - 1).numpy()]


def tensor2labelgray(label: torch.Tensor) -> np.ndarray:
    """(1, H, W) ids -> (H, W) uint8 ids."""
    return label.detach().cpu()[0].numpy().astype(np.uint8)


def save_image(image: np.ndarray, path: str) -> None:
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    Image.fromarray(image).save(path)
