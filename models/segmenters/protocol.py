"""What the paper's evaluation does per dataset: which segmenter, how the ground truth becomes its classes, which
score definitions apply, and the published numbers to compare with."""
from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from data.classes import CITYSCAPES_TRAIN_LABEL_IDS, DONTCARE_VALUE, label_set

IGNORED = 255  # a ground-truth pixel no class is scored on

# FID / mIoU / pixel accuracy of the CC-FPSE paper's Table 1 (SPADE's row as CC-FPSE reports it).
PAPER_ROWS = {
    'coco': {'CC-FPSE': (19.2, 41.6, 70.7), 'SPADE': (22.6, 37.4, 67.9)},
    'ade20k': {'CC-FPSE': (31.7, 43.7, 82.9), 'SPADE': (33.9, 38.5, 79.9)},
    'cityscapes': {'CC-FPSE': (54.3, 65.5, 82.3), 'SPADE': (71.8, 62.3, 81.9)},
}


@dataclass(frozen=True)
class DatasetProtocol:
    dataset_mode: str
    segmenter: str
    num_classes: int
    # Label-file value -> the segmenter's class (IGNORED for pixels that are not scored); values with no entry
    # (-1) mean the file is not of this dataset.
    value_to_class: np.ndarray = field(repr=False)
    class_names: Tuple[str, ...] = field(repr=False)
    class_colors: np.ndarray = field(repr=False)  # (num_classes, 3) uint8: the dataset's colours
    definition: str = ''  # how mIoU and accuracy are computed (util.segmentation_metrics.DEFINITIONS)
    label_rule: str = ''  # in words, for metrics.json

    @property
    def paper(self) -> Dict[str, Tuple[float, float, float]]:
        return PAPER_ROWS[self.dataset_mode]


def _lookup(pairs) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int64)
    for value, cls in pairs:
        table[value] = cls
    return table


def _coco() -> DatasetProtocol:
    labels = label_set('coco', 182, True)
    return DatasetProtocol('coco', 'deeplabv2_cocostuff', 182,
                           _lookup([(v, v) for v in range(182)] + [(DONTCARE_VALUE, IGNORED)]),
                           labels.names[:182], labels.colors[:182], 'deeplab',
                           'label map values 0..181 are the classes, 255 is not scored')


def _ade20k() -> DatasetProtocol:
    labels = label_set('ade20k', 150, True)  # channel c is file value c: 0 'other', 1..150 the classes
    return DatasetProtocol('ade20k', 'upernet101_ade20k', 150,
                           _lookup([(0, IGNORED)] + [(v, v - 1) for v in range(1, 151)]),
                           labels.names[1:], labels.colors[1:], 'csail',
                           'label map value v in 1..150 is class v - 1; 0 (other) is not scored')


def _cityscapes() -> DatasetProtocol:
    labels = label_set('cityscapes', 35, False)
    train_id = {label_id: t for t, label_id in enumerate(CITYSCAPES_TRAIN_LABEL_IDS)}
    ids = list(CITYSCAPES_TRAIN_LABEL_IDS)
    return DatasetProtocol('cityscapes', 'drn_d_105_cityscapes', 19,
                           _lookup([(v, train_id.get(v, IGNORED)) for v in range(34)]),
                           tuple(labels.names[i] for i in ids), labels.colors[ids], 'drn',
                           'labelIds mapped to the 19 trainIds (cityscapesscripts\' table); the other ids are not '
                           'scored')


PROTOCOLS = {'coco': _coco, 'ade20k': _ade20k, 'cityscapes': _cityscapes}


def dataset_protocol(dataset_mode: str) -> DatasetProtocol:
    return PROTOCOLS[dataset_mode]()
