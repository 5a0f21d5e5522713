"""Tiny datasets written in each benchmark's real on-disk layout, with odd sizes and don't-care pixels."""
import os
from typing import Tuple

import numpy as np
from PIL import Image


def _label_map(rng: np.random.Generator, size: Tuple[int, int], num_ids: int, dontcare: bool) -> np.ndarray:
    w, h = size
    blocks = rng.integers(0, num_ids, size=(h // 5 + 1, w // 5 + 1))
    label = np.kron(blocks, np.ones((5, 5), dtype=np.int64))[:h, :w]
    if dontcare:
        label[:2, :3] = 255
    return label.astype(np.uint8)


def _photo(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    w, h = size
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _instances(label: np.ndarray, dtype) -> np.ndarray:
    inst = label.astype(np.int64) * (1000 if dtype == np.uint16 else 1)
    inst[label.shape[0] // 2:, label.shape[1] // 2:] += 1
    return inst.astype(dtype)


def write_coco(root: str, phase: str = 'train', count: int = 3, size=(37, 29), label_nc: int = 182,
               seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    for kind in ('img', 'label', 'inst'):
        os.makedirs(os.path.join(root, f'{phase}_{kind}'), exist_ok=True)
    for i in range(count):
        name = f'000000{i + 1:06d}'
        label = _label_map(rng, size, label_nc, dontcare=True)
        Image.fromarray(_photo(rng, size)).save(os.path.join(root, f'{phase}_img', name + '.jpg'), quality=95)
        Image.fromarray(label).save(os.path.join(root, f'{phase}_label', name + '.png'))
        Image.fromarray(_instances(label, np.uint8)).save(os.path.join(root, f'{phase}_inst', name + '.png'))
    return root


def write_ade20k(root: str, phase: str = 'train', count: int = 3, size=(41, 33), seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    folder, tag = ('training', 'train') if phase == 'train' else ('validation', 'val')
    os.makedirs(os.path.join(root, 'images', folder), exist_ok=True)
    os.makedirs(os.path.join(root, 'annotations', folder), exist_ok=True)
    for i in range(count):
        name = f'ADE_{tag}_{i + 1:08d}'
        Image.fromarray(_photo(rng, size)).save(os.path.join(root, 'images', folder, name + '.jpg'), quality=95)
        Image.fromarray(_label_map(rng, size, 151,
                                   dontcare=False)).save(os.path.join(root, 'annotations', folder, name + '.png'))
    return root


def write_cityscapes(root: str, phase: str = 'train', count: int = 3, size=(70, 34), seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    city = 'aachen' if phase == 'train' else 'frankfurt'
    label_dir = os.path.join(root, 'gtFine', phase, city)
    image_dir = os.path.join(root, 'leftImg8bit', phase, city)
    os.makedirs(label_dir, exist_ok=True)
    os.makedirs(image_dir, exist_ok=True)
    for i in range(count):
        stem = f'{city}_{i:06d}_000019'
        label = _label_map(rng, size, 34, dontcare=False)
        Image.fromarray(label).save(os.path.join(label_dir, stem + '_gtFine_labelIds.png'))
        Image.fromarray(_photo(rng, size)).save(os.path.join(label_dir, stem + '_gtFine_color.png'))
        Image.fromarray(_instances(label, np.uint16)).save(os.path.join(label_dir, stem + '_gtFine_instanceIds.png'))
        Image.fromarray(_photo(rng, size)).save(os.path.join(image_dir, stem + '_leftImg8bit.png'))
    return root


def write_custom(root: str, count: int = 3, size=(30, 26), label_nc: int = 13, seed: int = 0) -> Tuple[str, str]:
    rng = np.random.default_rng(seed)
    label_dir, image_dir = os.path.join(root, 'labels'), os.path.join(root, 'photos')
    os.makedirs(label_dir, exist_ok=True)
    os.makedirs(image_dir, exist_ok=True)
    for i in range(count):
        Image.fromarray(_label_map(rng, size, label_nc, dontcare=False)).save(os.path.join(label_dir, f'scene{i}.png'))
        Image.fromarray(_photo(rng, size)).save(os.path.join(image_dir, f'scene{i}.jpg'))
    return label_dir, image_dir


def write_celebamask_hq(root: str, phase: str = 'train', count: int = 3, size=(32, 32), seed: int = 0) -> str:
    """Photos at twice their label maps' size, as released (1024² photos, 512² maps)."""
    rng = np.random.default_rng(seed)
    split = os.path.join(root, 'train' if phase == 'train' else 'test')
    for kind in ('images', 'labels'):
        os.makedirs(os.path.join(split, kind), exist_ok=True)
    for i in range(count):
        Image.fromarray(_photo(rng, (2 * size[0], 2 * size[1]))).save(os.path.join(split, 'images', f'{i}.jpg'))
        Image.fromarray(_label_map(rng, size, 19, dontcare=False)).save(os.path.join(split, 'labels', f'{i}.png'))
    return root
