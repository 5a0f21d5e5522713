"""The paper's evaluation of a results folder (what test.py writes): the protocol's segmenter on the synthesized
images against the dataset's validation label maps, each repository's own scores, FID, metrics.json and a page.

    results/<name>/test_<epoch>/images/synthesized_image/<stem>.png    read
    results/<name>/test_<epoch>/images/real_image/<stem>.png           read (FID)
    results/<name>/test_<epoch>/segmentation/<stem>.png                written: predicted class ids (reused)
    results/<name>/test_<epoch>/metrics.json, evaluation.html          written last
"""
import json
import os
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from data.base_dataset import image_to_tensor
from data.image_folder import open_image, stem
from data.label_maps import MAX_INPUT_PIXELS
from models.segmenters import SEGMENTERS, load_segmenter, weight_files
from models.segmenters.drn import MULTI_SCALES
from models.segmenters.protocol import IGNORED, DatasetProtocol
from models.segmenters.upernet import TEST_SHORT_SIDES
from models.segmenters.weights import locate
from util.atomic import atomic_write_text
from util.manifest import sha256
from util.distributed import DistInfo, all_true, barrier, sum_across
from util.errors import UserError
from util.segmentation_metrics import DEFINITIONS, confusion_matrix, protocol_scores
from util.user_files import image_header_size, read_json
from util.util import chunks, save_image

SEGMENTATION_DIR, PAGE_DIR = 'segmentation', 'evaluation'


@dataclass(frozen=True)
class Variants:
    """Protocol variants users report; the defaults are the CC-FPSE authors' (xh-liu/CC-FPSE #4)."""
    cityscapes_full_resolution: bool = False  # images upsampled (bicubic) to the label maps' 2048x1024 (OASIS #18)
    drn_multi_scale: bool = False  # fyu/drn's --ms test
    ade20k_test_scales: bool = False  # CSAIL's five test scales, probabilities averaged

    def segmenter_arguments(self) -> Dict[str, object]:
        arguments = {}
        if self.drn_multi_scale:
            arguments['scales'] = MULTI_SCALES
        if self.ade20k_test_scales:
            arguments['test_short_sides'] = TEST_SHORT_SIDES
        return arguments


@dataclass(frozen=True)
class Sample:
    stem: str
    image_path: str
    label_path: str


def synthesized_images(results_dir: str) -> List[str]:
    folder = os.path.join(results_dir, 'images', 'synthesized_image')
    if not os.path.isdir(results_dir):
        raise UserError(f'--results {results_dir} does not exist: pass the folder test.py wrote '
                        f'(results/<name>/test_<epoch>)')
    files = sorted(os.path.join(folder,
                                f) for f in os.listdir(folder) if f.endswith('.png')) if os.path.isdir(folder) else []
    if not files:
        raise UserError(f'--results {results_dir} has no images/synthesized_image/*.png: pass the folder test.py wrote')
    return files


def pair_samples(images: List[str], label_of: Callable[[str], Optional[str]], where: str) -> List[Sample]:
    samples = []
    for path in images:
        label_path = label_of(stem(path))
        if label_path is None:
            raise UserError(f'{path} has no label map among the validation maps of {where}: is --results of another '
                            'dataset (check --dataset_mode and --dataroot)?')
        samples.append(Sample(stem(path), path, label_path))
    return samples


def common_size(samples: List[Sample]) -> Tuple[int, int]:
    sizes = {}
    for sample in samples:
        img = open_image(sample.image_path, 'synthesized image', max_pixels=MAX_INPUT_PIXELS)
        sizes.setdefault(img.size, sample.image_path)
    if len(sizes) > 1:
        (a, fa), (b, fb) = list(sizes.items())[:2]
        raise UserError(f'synthesized images differ in size ({fa} is {a[0]}x{a[1]}, {fb} is {b[0]}x{b[1]}): '
                        'evaluate the images of one test.py run')
    return next(iter(sizes))


def ground_truth(sample: Sample, protocol: DatasetProtocol, size: Optional[Tuple[int, int]]) -> np.ndarray:
    """(H, W) int64 segmenter classes (IGNORED where not scored) of a label map, resized with nearest neighbour to
    `size` as the dataset loaders resize labels (PIL NEAREST; None keeps the file's size)."""
    label = open_image(sample.label_path, 'label map', max_pixels=MAX_INPUT_PIXELS)
    if label.mode not in ('L', 'P'):
        raise UserError(f'label map {sample.label_path} is a {label.mode} image, not 8-bit class ids: is --dataroot '
                        f'a {protocol.dataset_mode} dataset?')
    if size is not None and label.size != size:
        label = label.resize(size, Image.NEAREST)
    classes = protocol.value_to_class[np.array(label)]
    if (classes < 0).any():
        values = sorted(set(np.array(label)[classes < 0].tolist()))
        raise UserError(f'label map {sample.label_path} holds value '
                        f'{values[0]}{" and more" if len(values) > 1 else ""}, '
                        f'which no {protocol.dataset_mode} class has: is --dataroot (or --dataset_mode) of another '
                        f'dataset?')
    return classes


def read_images(samples: List[Sample], size: Optional[Tuple[int, int]]) -> torch.Tensor:
    """Synthesized images as our loaders make tensors, upsampled with PIL bicubic to `size` when given."""
    images = []
    for sample in samples:
        img = open_image(sample.image_path, 'synthesized image').convert('RGB')
        images.append(image_to_tensor(img if size is None or img.size == size else img.resize(size, Image.BICUBIC)))
    return torch.stack(images)


class Evaluation:
    """Under torchrun every process segments its own batches (batch k: process k mod N) and the confusion matrices
    are summed, so every process holds the scores of one process; rank 0 writes protocol.json."""

    def __init__(self, results_dir: str, protocol: DatasetProtocol, samples: List[Sample], variants: Variants,
                 weights: Optional[str], device: str = 'cpu', batch_size: int = 8, dist: DistInfo = DistInfo()):
        self.results_dir, self.protocol, self.samples, self.variants = results_dir, protocol, samples, variants
        self.weights, self.device, self.batch_size, self.dist = weights, device, batch_size, dist
        self.image_size = common_size(samples)
        full = variants.cityscapes_full_resolution and protocol.dataset_mode == 'cityscapes'
        # None: each label map at its own size, the image upsampled to it.
        self.eval_size = None if full else self.image_size
        self.spec = SEGMENTERS[protocol.segmenter]
        self.checked = False

    def check_inputs(self) -> None:
        """Every label map readable and of this dataset, every size usable, before anything is written (the
        scoring pass reads them again rather than holding thousands of maps in memory)."""
        multiple = self.spec.input_multiple
        for sample in tqdm(self.samples, desc='checking label maps', unit='map', leave=False,
                           disable=not self.dist.is_main):
            gt = ground_truth(sample, self.protocol, self.eval_size)
            if gt.shape[0] % multiple or gt.shape[1] % multiple:
                raise UserError(f'{self.protocol.segmenter} needs sizes that are multiples of {multiple}, but '
                                f'{sample.image_path} is evaluated at {gt.shape[1]}x{gt.shape[0]}')
        self.checked = True

    def input_size(self, sample: Sample) -> Tuple[int, int]:
        """(width, height) the segmenter sees a sample at: the images' size, or its label map's own."""
        if self.eval_size:
            return self.eval_size
        return image_header_size(sample.label_path, 'label map')

    def protocol_record(self, weight_paths: List[str]) -> Dict[str, object]:
        files = weight_files(self.protocol.segmenter)
        return {
            'dataset_mode': self.protocol.dataset_mode,
            'segmenter': self.protocol.segmenter,
            'segmenter_code': self.spec.repository,
            'weights': [{'file': f.filename, 'sha256': sha256(p)} for f, p in zip(files, weight_paths)],
            'variants': asdict(self.variants),
            'image_size': list(self.image_size),
            'evaluation_size': list(self.eval_size) if self.eval_size else 'each label map\'s own size',
            'image_resize': 'none' if self.eval_size else 'PIL bicubic to the label map\'s size',
            'label_resize': 'PIL nearest to the images\' size (as the dataset loaders)' if self.eval_size else 'none',
            'label_rule': self.protocol.label_rule,
            'definition': DEFINITIONS[self.protocol.definition],
            'image_count': len(self.samples),
        }

    def my_batches(self) -> List[List[Sample]]:
        return self.dist.share(chunks(self.samples, self.batch_size))

    def predictions(self, record: Dict[str, object]) -> Iterator[Tuple[Sample, np.ndarray]]:
        """(sample, predicted classes) for this process's samples: read back from segmentation/ when a finished run
        of the same protocol left them there, else from the segmenter (and written there)."""
        folder = os.path.join(self.results_dir, SEGMENTATION_DIR)
        record_path = os.path.join(folder, 'protocol.json')
        reusable = os.path.isfile(record_path) and all(os.path.isfile(os.path.join(folder, f'{s.stem}.png'))
                                                       for s in self.samples)
        if reusable:  # our own file; one a user damaged is only not reused
            try:
                reusable = read_json(record_path, 'protocol record') == record
            except UserError:
                reusable = False
        mine = self.my_batches()
        if all_true(reusable, self.dist):
            for sample in (s for batch in mine for s in batch):
                segmentation = open_image(os.path.join(folder, f'{sample.stem}.png'), 'segmentation',
                                          max_pixels=MAX_INPUT_PIXELS)
                yield sample, np.array(segmentation).astype(np.int64)
            return
        if self.dist.is_main and os.path.isfile(record_path):
            os.remove(record_path)  # the maps below are being replaced
        net = load_segmenter(self.protocol.segmenter, self.weights, self.device, **self.variants.segmenter_arguments())
        with tqdm(total=sum(map(len, mine)), desc=f'segmenting ({self.protocol.segmenter})', unit='img',
                  disable=not self.dist.is_main) as progress:
            for batch in mine:
                sizes = [self.input_size(s) for s in batch]
                for size in dict.fromkeys(sizes):  # one forward pass per size
                    group = [s for s, s_size in zip(batch, sizes) if s_size == size]
                    images = read_images(group, size).to(self.device)
                    with torch.no_grad():
                        classes = net(images).argmax(1).to(torch.uint8).cpu().numpy()
                    for sample, pred in zip(group, classes):
                        save_image(pred, os.path.join(folder, f'{sample.stem}.png'))
                        yield sample, pred.astype(np.int64)
                progress.update(len(batch))
        barrier(self.dist)  # every process's maps are written
        if self.dist.is_main:
            atomic_write_text(record_path, json.dumps(record, indent=1, sort_keys=True))

    def run(self) -> Dict[str, object]:
        """Segment (or reuse), accumulate the confusion matrix, score; returns what metrics.json records."""
        if not self.checked:
            self.check_inputs()
        record = self.protocol_record(locate(weight_files(self.protocol.segmenter), self.weights))
        n = self.protocol.num_classes
        confusion = np.zeros((n, n), dtype=np.int64)
        unscored = 0
        for sample, pred in self.predictions(record):
            gt = ground_truth(sample, self.protocol, self.eval_size)
            unscored += int((gt == IGNORED).sum())
            confusion += confusion_matrix(pred, gt, n, IGNORED)
        counts = sum_across(torch.from_numpy(np.append(confusion.ravel(), unscored)), self.dist).numpy()
        confusion, unscored = counts[:-1].reshape(n, n), int(counts[-1])
        scores = protocol_scores(confusion, self.protocol.definition, unscored)
        per_class = [{'class': c, 'name': self.protocol.class_names[c],
                      'iou': None if np.isnan(scores['iou'][c]) else round(float(scores['iou'][c]) * 100, 4),
                      'ground_truth_pixels': int(confusion[c].sum())} for c in range(n)]
        metrics = {'miou': scores['miou'] * 100, 'accuracy': scores['accuracy'] * 100, 'per_class_iou': per_class,
                   'protocol': record, 'confusion_matrix': confusion.tolist()}
        if 'accuracy_scored_pixels' in scores:
            metrics['accuracy_scored_pixels'] = scores['accuracy_scored_pixels'] * 100
        metrics['paper'] = {name: dict(zip(('fid', 'miou', 'accuracy'), row)) for name,
                            row in self.protocol.paper.items()}
        return metrics

    def color(self, classes: np.ndarray) -> np.ndarray:
        palette = np.zeros((256, 3), dtype=np.uint8)
        palette[:self.protocol.num_classes] = self.protocol.class_colors
        return palette[classes]

    def page(self, metrics: Dict[str, object], page_images: int) -> str:
        """The markup of evaluation.html (its images written): the scores beside the paper's rows, per-class IoU
        worst first, and per image the
        synthesized image, the prediction and the ground truth in the dataset's colours."""
        from util import html
        page = html.HTML(self.results_dir, f'Evaluation: {self.protocol.dataset_mode}, {len(self.samples)} images',
                         image_subdir=PAGE_DIR)
        rows = [(name, row['fid'], row['miou'], row['accuracy']) for name, row in metrics['paper'].items()]
        rows.append(('this run', metrics.get('fid', float('nan')), metrics['miou'], metrics['accuracy']))
        page.add_raw('<table border=1><tr><th></th><th>FID</th><th>mIoU</th><th>accuracy</th></tr>' + ''.join(
            f'<tr><td>{name}</td><td>{fid:.2f}</td><td>{miou:.2f}</td><td>{acc:.2f}</td></tr>'
            for name, fid, miou, acc in rows)
            + '</table><p>Paper rows: CC-FPSE\'s Table 1. Protocol and definitions: metrics.json.</p>')
        worst = sorted(metrics['per_class_iou'], key=lambda c: (c['iou'] is None, c['iou'] or 0))
        page.add_raw('<h3>IoU per class, worst first</h3><table border=1><tr><th>class</th><th>name</th><th>IoU</th>'
                     '<th>ground-truth pixels</th></tr>' + ''.join(
                         f'<tr><td>{c["class"]}</td><td>{c["name"]}</td><td>{_percent(c["iou"])}</td>'
                         f'<td>{c["ground_truth_pixels"]}</td></tr>' for c in worst) + '</table>')
        shown = self.samples if page_images < 0 else self.samples[:page_images]
        for sample in shown:
            gt = ground_truth(sample, self.protocol, self.eval_size)
            pred = np.array(open_image(os.path.join(self.results_dir, SEGMENTATION_DIR, f'{sample.stem}.png'),
                                       'segmentation', max_pixels=MAX_INPUT_PIXELS))
            for kind, classes in (('prediction', pred), ('ground_truth', gt)):
                save_image(self.color(classes), os.path.join(page.get_image_dir(), kind, f'{sample.stem}.png'))
            page.add_header(sample.stem)
            shown_files = [os.path.join('..', 'images', 'synthesized_image', f'{sample.stem}.png'),
                           os.path.join('prediction', f'{sample.stem}.png'),
                           os.path.join('ground_truth', f'{sample.stem}.png')]
            page.add_images(shown_files, ['synthesized', f'{self.protocol.segmenter} prediction',
                                          'ground truth (black: not scored)'], shown_files,
                            width=min(self.image_size[0], 512))
        return page.render()


def _percent(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}'
