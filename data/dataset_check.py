"""Everything the loader would read, read once before training: every problem found, not just the first."""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from .classes import DONTCARE_VALUE, has_fixed_classes, label_nc_way_out, label_set
from .errors import DatasetError
from .image_folder import open_image
from .pix2pix_dataset import LABEL_MODES, Pix2pixDataset
from .settings import DataSettings

Item = Tuple[str, str, Optional[str]]  # label map, photo, instance map
MAX_FILES_LISTED = 20  # label maps named one by one; the rest are counted


@dataclass
class ItemReport:
    label_pixels: Dict[int, int] = field(default_factory=dict)  # pixels of each value stored in the label map file
    photo_size: Optional[Tuple[int, int]] = None
    problems: List[str] = field(default_factory=list)


def _read(path: str, what: str, report: ItemReport) -> Optional[Image.Image]:
    try:
        return open_image(path, what)
    except DatasetError as exc:
        report.problems.append(str(exc))
        return None


def check_item(item: Item, photo_size_matches_label: bool = True) -> ItemReport:
    """Read one item's files as the loader would; what it finds and every problem. A photo whose size differs from
    its label map's is a problem unless the dataset resizes each on its own (`photo_size_matches_label` False)."""
    label_path, photo_path, instance_path = item
    report = ItemReport()
    label = _read(label_path, 'label map', report)
    photo = _read(photo_path, 'photo', report)
    instance = _read(instance_path, 'instance map', report) if instance_path else None
    if label is not None:
        if label.format == 'JPEG':  # its ids are the compression's, not a class count to suggest
            report.problems.append(f'label map {label_path} is a JPEG: its lossy compression changes class ids at '
                                   'region edges; save label maps as PNG')
        elif label.mode not in LABEL_MODES:
            report.problems.append(f'label map {label_path}: a {label.mode} image, not one channel of class ids')
        else:
            values, counts = np.unique(np.array(label), return_counts=True)
            report.label_pixels = {int(v): int(c) for v, c in zip(values, counts)}
    if photo is not None:
        report.photo_size = photo.size
    others = ([(photo, photo_path)] if photo_size_matches_label else []) + [(instance, instance_path)]
    for other, path in others:
        if label is not None and other is not None and other.size != label.size:
            report.problems.append(f'{path}: {other.size[0]}x{other.size[1]}, but its label map {label_path} is '
                                   f'{label.size[0]}x{label.size[1]}')
    return report


@dataclass
class DatasetReport:
    items: List[Item]
    unpaired: List[str]  # one line per file without its partner
    item_reports: List[ItemReport]
    settings: DataSettings

    @property
    def problems(self) -> List[str]:
        lines = list(self.unpaired) + [p for r in self.item_reports for p in r.problems] + self.label_problems()
        if len(self.items) < self.settings.batchSize:
            lines.append(f'{len(self.items)} usable items, fewer than --batchSize {self.settings.batchSize} (the '
                         f'default '
                         f'is 32): train and check with --batchSize {max(1, len(self.items))} or less')
        return lines

    def values_found(self) -> Counter:
        """How many images contain each label-file value."""
        return Counter(v for r in self.item_reports for v in r.label_pixels)

    def files_out_of_range(self) -> List[str]:
        """A line for every label map holding ids beyond the options' classes: the ids and their pixel counts."""
        lines = []
        for (label_path, _, _), report in zip(self.items, self.item_reports):
            extra = {v: n for v,
                     n in report.label_pixels.items() if v != DONTCARE_VALUE and v >= self.settings.num_labels}
            if extra:
                ids = ', '.join(f'{v} ({n} px)' for v, n in sorted(extra.items()))
                lines.append(f'label map {label_path}: ids {ids} outside 0..{self.settings.num_labels - 1}')
        return lines

    def label_problems(self) -> List[str]:
        settings, found = self.settings, self.values_found()
        ids = sorted(v for v in found if v != DONTCARE_VALUE)
        lines = []
        if ids and ids[-1] >= settings.num_labels and has_fixed_classes(settings.dataset_mode):
            # The dataset's class count is fixed: an id beyond it is a broken file, not a wrong option.
            files = self.files_out_of_range()
            lines += files[:MAX_FILES_LISTED]
            if len(files) > MAX_FILES_LISTED:
                lines.append(f'{len(files) - MAX_FILES_LISTED} more label maps hold ids outside '
                             f'0..{settings.num_labels - 1}')
        elif ids and ids[-1] >= settings.num_labels:
            lines.append(f'label ids up to {ids[-1]} are found, but '
                         f'{label_nc_way_out(ids[-1], settings.label_nc, settings.contain_dontcare_label)}')
        if DONTCARE_VALUE in found and not settings.contain_dontcare_label:
            lines.append(f'{found[DONTCARE_VALUE]} label maps hold 255 (don\'t care): add --contain_dontcare_label')
        return lines

    def summary(self) -> List[Tuple[str, str]]:
        settings, found = self.settings, self.values_found()
        ids = sorted(v for v in found if v != DONTCARE_VALUE)
        sizes = sorted(r.photo_size for r in self.item_reports if r.photo_size)
        by_area = sorted(sizes, key=lambda s: (s[0] * s[1], s))
        rows = [('dataset',
                 f'--dataset_mode {settings.dataset_mode} --dataroot {settings.dataroot} --phase {settings.phase}'),
                ('items', f'{len(self.items)} complete, {len(self.unpaired)} files without their partner'),
                ('label ids', (f'{ids[0]}..{ids[-1]} ({len(ids)} distinct)' if ids else 'none')
                 + (', and 255 (don\'t care)' if DONTCARE_VALUE in found else '')
                 + f'; options: --label_nc '
                   f'{settings.label_nc}{" --contain_dontcare_label" if settings.contain_dontcare_label else ""}'),
                ('photo sizes', (f'smallest {by_area[0][0]}x{by_area[0][1]}, largest {by_area[-1][0]}x{by_area[-1][1]}'
                                 if sizes else 'none read')
                 + f'; options: --preprocess_mode {settings.preprocess_mode} --load_size {settings.load_size} '
                   f'--crop_size {settings.crop_size}'),
                ('problems', str(len(self.problems)) if self.problems else 'none: training would run')]
        return rows

    def class_counts(self) -> List[Tuple[int, str, int]]:
        """(file value, class name, images containing it) of every class that occurs."""
        labels = label_set(self.settings.dataset_mode, self.settings.label_nc, self.settings.contain_dontcare_label)
        rows = []
        for value, count in sorted(self.values_found().items()):
            channel = labels.channel_of_file_value(value)
            rows.append((value, labels.names[channel] if channel is not None else '(not a class of these options)',
                         count))
        return rows


def pair_files(dataset: Pix2pixDataset, settings: DataSettings) -> Tuple[List[Item], List[str]]:
    """The complete items, and a line for every label map, photo or instance map without its partner."""
    label_paths, photo_paths, instance_paths = dataset.dataset_paths(settings)
    photos: Dict[str, str] = {dataset.pair_key(p): p for p in photo_paths}
    instances: Dict[str, str] = {dataset.pair_key(p): p for p in instance_paths}
    labels: Dict[str, str] = {dataset.pair_key(p): p for p in label_paths}
    items, unpaired = [], []
    for key, label in sorted(labels.items()):
        if key not in photos:
            unpaired.append(f'label map {label}: no photo {dataset.expected_photo(label)}')
        elif not settings.no_instance and key not in instances:
            unpaired.append(f'label map {label}: no instance map named {key}.* (or pass --no_instance)')
        else:
            items.append((label, photos[key], instances.get(key) if not settings.no_instance else None))
    unpaired += [f'photo {p}: no label map' for k, p in sorted(photos.items()) if k not in labels]
    if not settings.no_instance:
        unpaired += [f'instance map {p}: no label map' for k, p in sorted(instances.items()) if k not in labels]
    return items, unpaired


def list_dataset(settings: DataSettings) -> Tuple[List[Item], List[str]]:
    from . import find_dataset_using_name
    dataset = find_dataset_using_name(settings.dataset_mode)()
    if not isinstance(dataset, Pix2pixDataset):
        raise DatasetError(f'--dataset_mode {settings.dataset_mode} has no files to check')
    dataset.settings = settings
    return pair_files(dataset, settings)
