"""COCO-Stuff instance maps exactly as SPADE's `datasets/coco_generate_instance_map.py` writes them (the released
models were trained on its output), without scikit-image.

Its rules, kept here because the numbers depend on them:
- images in the order of the annotation file's `images`, every one of them (its category filter selects none,
  which pycocotools reads as "all images"), and each image's annotations in the file's order;
- the map starts as the label map itself; every polygon object (`segmentation` a list) then paints its polygons
  with a running count 0, 1, 2, ... per image, later objects over earlier ones; RLE (crowd) objects are skipped
  and not counted;
- a polygon covers the pixels (row r, column c) whose integer coordinates pass scikit-image's even-odd test
  against the vertices shifted by -1 (`polygon(y - 1, x - 1)`), with the half-open edge rule of the scikit-image
  the script needs (its `as_grey` argument was removed in 0.16; boundaries became inclusive only in 0.18); pixels
  outside the image are not drawn (the script would fail there);
- values are 8-bit: a count above 255 wraps, as numpy's uint8 assignment did then.
"""
from typing import List, Sequence

import numpy as np


def polygon_mask(xs: Sequence[float], ys: Sequence[float], shape) -> np.ndarray:
    """(H, W) bool: the pixels whose (column, row) lies inside the polygon by the even-odd rule, with
    scikit-image's `point_in_polygon` edge conventions (upper edge of an edge's span excluded) and arithmetic."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    if xs.size == 0:
        return mask
    row0, row1 = int(max(0, ys.min())), min(height - 1, int(np.ceil(ys.max())))
    col0, col1 = int(max(0, xs.min())), min(width - 1, int(np.ceil(xs.max())))
    if row0 > row1 or col0 > col1:
        return mask
    rows, cols = np.mgrid[row0:row1 + 1, col0:col1 + 1].astype(np.float64)
    inside = np.zeros(rows.shape, dtype=bool)
    with np.errstate(divide='ignore', invalid='ignore'):
        for i in range(xs.size):
            j = i - 1  # the previous vertex; -1 is the last, closing the polygon
            spans = ((ys[i] <= rows) & (rows < ys[j])) | ((ys[j] <= rows) & (rows < ys[i]))
            crossing = cols < (xs[j] - xs[i]) * (rows - ys[i]) / (ys[j] - ys[i]) + xs[i]
            inside ^= spans & crossing
    mask[row0:row1 + 1, col0:col1 + 1] = inside
    return mask


def instance_map(label: np.ndarray, objects: List[List[List[float]]]) -> np.ndarray:
    """The instance map of one image: `label` (H, W) uint8, `objects` the `segmentation` of each annotation in the
    file's order (a list of polygons [x0, y0, x1, y1, ...] or, for RLE, anything else)."""
    result = label.copy()
    count = 0
    for segmentation in objects:
        if not isinstance(segmentation, list):
            continue  # RLE (crowd): skipped, not counted
        for polygon in segmentation:
            points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
            result[polygon_mask(points[:, 0] - 1, points[:, 1] - 1, label.shape)] = count & 0xFF
        count += 1
    return result
