"""mIoU, per-class IoU and pixel accuracy from predicted and ground-truth label maps."""
import os
from typing import Dict, List, Tuple

import numpy as np

from util.errors import UserError
from util.user_files import open_image
from util.util import MAX_INPUT_PIXELS


def confusion_matrix(pred: np.ndarray, label: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = ground truth, columns = prediction; ignored pixels left out."""
    valid = label != ignore_index
    truth, guess = label[valid].astype(np.int64), pred[valid].astype(np.int64)
    if truth.size and (truth.max() >= num_classes or guess.max() >= num_classes or min(truth.min(), guess.min()) < 0):
        raise UserError(f'a label or prediction id is outside 0..{num_classes - 1}: check --num_classes and '
                        f'--ignore_index')
    return np.bincount(truth * num_classes + guess, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def scores(confusion: np.ndarray) -> Dict[str, object]:
    """IoU per class (nan for a class absent from both), their mean over present classes (fyu/drn's definition),
    pixel accuracy over the scored pixels."""
    result = protocol_scores(confusion, 'drn')
    return {'miou': result['miou'], 'pixel_accuracy': result['accuracy_scored_pixels'], 'iou': result['iou']}


def png_maps(folder: str) -> Dict[str, str]:
    """{stem: path} of the .png label maps of a folder."""
    return {os.path.splitext(f)[0]: os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith('.png')}


def paired_maps(pred_dir: str, label_dir: str, partial: bool = False) -> List[Tuple[str, str]]:
    """(prediction, ground truth) by file stem; every ground-truth map needs its prediction unless `partial`."""
    for folder, flag in ((pred_dir, '--pred_dir'), (label_dir, '--label_dir')):
        if not os.path.isdir(folder):
            raise UserError(f'{flag} {folder} does not exist')
    labels, preds = png_maps(label_dir), png_maps(pred_dir)
    if not preds:
        raise UserError(f'--pred_dir {pred_dir} has no .png label maps')
    missing = sorted(set(preds) - set(labels))
    if missing:
        raise UserError(f'no ground truth in {label_dir} for {len(missing)} predictions (e.g. {missing[0]}.png)')
    unpredicted = sorted(set(labels) - set(preds))
    if unpredicted and not partial:
        raise UserError(f'--pred_dir {pred_dir} has {len(preds)} predictions for the {len(labels)} ground-truth '
                        f'maps of {label_dir} (none for {unpredicted[0]}.png): predict them all, or pass --partial '
                        'to score those there are')
    return [(preds[k], labels[k]) for k in sorted(preds)]


def read_id_map(path: str, option: str, max_pixels: int = MAX_INPUT_PIXELS) -> np.ndarray:
    """(H, W) class ids of a one-channel PNG, or one line naming the file: unreadable, colour, or too large."""
    img = open_image(path, f'{option}:', max_pixels)
    if img.mode not in ('L', 'P', 'I', 'I;16'):
        raise UserError(f'{option}: {path} is a {img.mode} image; label maps are one channel of class ids '
                        '(8-bit grey or palette PNG)')
    return np.array(img)


def evaluate_folders(pred_dir: str, label_dir: str, num_classes: int, ignore_index: int = 255,
                     partial: bool = False) -> Dict[str, object]:
    """Scores (fractions) of the predictions against their ground truth, with how many maps were scored."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    pairs = paired_maps(pred_dir, label_dir, partial)
    for pred_path, label_path in pairs:
        pred, label = read_id_map(pred_path, '--pred_dir'), read_id_map(label_path, '--label_dir')
        if pred.shape != label.shape:
            raise UserError(f'{pred_path} is {pred.shape[1]}x{pred.shape[0]} but {label_path} is '
                            f'{label.shape[1]}x{label.shape[0]}: resize predictions to the labels (nearest)')
        confusion += confusion_matrix(pred, label, num_classes, ignore_index)
    return {**scores(confusion), 'confusion': confusion, 'scored': len(pairs),
            'ground_truth': len(png_maps(label_dir))}


# Each segmenter repository's own score definitions, from a confusion matrix of the scored pixels.
DEFINITIONS = {
    'deeplab': 'kazuto1011/deeplab-pytorch libs/utils/metric.py: accuracy over scored pixels; mIoU the mean IoU over '
               'the classes present in the ground truth',
    'csail': 'CSAILVision/semantic-segmentation-pytorch eval.py: accuracy over scored pixels; IoU = intersection / '
             '(union + 1e-10) summed over the images, mean over all classes (absent ones count 0)',
    'drn': 'fyu/drn segment.py: mIoU the NaN-skipping mean of diag / (row + column - diag); accuracy (DRN has '
           'none) as the CC-FPSE authors describe it (xh-liu/CC-FPSE #4): correct over all pixels, the unscored '
           'ones included; accuracy over scored pixels is reported beside it',
}


def protocol_scores(confusion: np.ndarray, definition: str, unscored_pixels: int = 0) -> Dict[str, object]:
    """mIoU, pixel accuracy (both fractions) and per-class IoU by one repository's definition (DEFINITIONS).
    unscored_pixels: ground-truth pixels left out of `confusion` (the Cityscapes accuracy counts them)."""
    confusion = confusion.astype(np.float64)
    tp, truth, predicted = np.diag(confusion), confusion.sum(1), confusion.sum(0)
    union = truth + predicted - tp
    scored = confusion.sum()
    accuracy = tp.sum() / scored if scored else float('nan')
    with np.errstate(invalid='ignore', divide='ignore'):
        if definition == 'deeplab':
            iou = tp / union
            miou = np.nanmean(iou[truth > 0]) if (truth > 0).any() else float('nan')
        elif definition == 'csail':
            iou = tp / (union + 1e-10)
            miou = iou.mean()
        elif definition == 'drn':
            iou = tp / union
            miou = np.nanmean(iou) if np.isfinite(iou).any() else float('nan')
        else:
            raise ValueError(f'unknown score definition {definition!r}')
    result = {'miou': float(miou), 'accuracy': float(accuracy), 'iou': iou}
    if definition == 'drn':
        result['accuracy_scored_pixels'] = result['accuracy']
        total = scored + unscored_pixels
        result['accuracy'] = float(tp.sum() / total) if total else float('nan')
    return result
