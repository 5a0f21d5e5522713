"""Scores on the validation split during training (rank 0): FID (--fid_freq, --eval_freq) and the paper's protocol's
mIoU and accuracy (--eval_freq), their log, and the best value so far of the metric named by --best_metric."""
import json
import os
import shutil
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch

from models.evaluation import SEGMENTATION_DIR, Evaluation, Sample, Variants
from models.segmenters import SEGMENTERS, weight_files
from models.segmenters.protocol import PROTOCOLS, dataset_protocol
from models.segmenters.weights import locate
from util import util
from util.checkpoint import CheckpointStore
from util.atomic import atomic_write_text
from util.errors import UserError
from util.fid import fid_between, inception_model
from util.user_files import read_json
from util.util import image_size

LOWER_IS_BETTER = {'fid': True, 'miou': False, 'accuracy': False}


@dataclass(frozen=True)
class ValidationSettings:
    """What the scores during training read."""
    dataset_mode: str
    crop_size: int
    aspect_ratio: float
    eval_freq: int
    best_metric: str
    fid_num_images: int
    fid_dims: int
    inception_weights: str
    segmenter_weights: Optional[str]  # None: the protocol's published file
    batchSize: int

    def check(self) -> None:
        """--eval_freq needs a dataset with a protocol and images its segmenter takes; --best_metric a metric
        computed."""
        if self.eval_freq > 0:
            if self.dataset_mode not in PROTOCOLS:
                raise UserError(f'--eval_freq scores with the paper\'s protocol, which exists for --dataset_mode '
                                f'{", ".join(sorted(PROTOCOLS))}, not {self.dataset_mode}: use --fid_freq for FID '
                                'alone')
            multiple = SEGMENTERS[dataset_protocol(self.dataset_mode).segmenter].input_multiple
            width, height = image_size(self.crop_size, self.aspect_ratio)
            if width % multiple or height % multiple:
                raise UserError(f'--eval_freq: the {self.dataset_mode} segmenter needs image sizes that are multiples '
                                f'of {multiple}, but the generator makes {width}x{height}: change --crop_size')
        elif self.best_metric != 'fid':
            raise UserError(f'--best_metric {self.best_metric} is computed only with --eval_freq: add --eval_freq N '
                            '(or choose --best_metric fid)')


class ValidationMonitor:
    """Writes the real validation images once (at the generator's resolution), then for each evaluation the
    synthesised ones; FID through pytorch-fid (real statistics cached), mIoU and accuracy through
    models.evaluation with the dataset's segmenter, as `evaluate.py all` scores a results folder."""

    def __init__(self, store: CheckpointStore, settings: ValidationSettings, loader: torch.utils.data.DataLoader,
                 device: str):
        """Logs into the run folder `store`; `loader` serves the validation split in order, unflipped; `device`
        is the training process's own."""
        self.settings = settings
        self.folder = store.path('validation')
        self.log_path = store.path('validation_log.txt')
        self.metric = settings.best_metric
        self.best_path = store.path(f'best_{self.metric}.json')
        self.best: Optional[float] = None
        if os.path.lexists(self.best_path):
            best = read_json(self.best_path, 'best score file').get(self.metric)
            if not isinstance(best, (int, float)) or isinstance(best, bool):
                raise UserError(f'{self.best_path} gives no number for {self.metric}: restore it, or remove it to '
                                'start the comparison anew')
            self.best = best
        self.loader = loader
        self.limit = min(settings.fid_num_images or len(loader.dataset), len(loader.dataset))
        self.device = device
        # Weights are found now, so that a bad or missing file stops the start, not the first evaluation.
        inception_model(settings.inception_weights, 'cpu', settings.fid_dims)
        self.protocol = dataset_protocol(settings.dataset_mode) if settings.eval_freq > 0 else None
        if self.protocol is not None:
            locate(weight_files(self.protocol.segmenter), settings.segmenter_weights)

    def _write(self, kind: str, images: Callable[[dict], torch.Tensor]) -> str:
        folder = os.path.join(self.folder, kind)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        count = 0
        for batch in self.loader:
            for image in images(batch)[:self.limit - count]:
                util.save_image(util.tensor2im(image), os.path.join(folder, f'{count:06d}.png'))
                count += 1
            if count >= self.limit:
                break
        return folder

    def segmentation_scores(self, fake: str) -> Dict[str, float]:
        """The protocol's mIoU and accuracy (percent) of the synthesised images against the validation maps."""
        labels = self.loader.dataset.label_paths  # the loader is serial: image k is made from label map k
        samples = [Sample(f'{k:06d}', os.path.join(fake, f'{k:06d}.png'), labels[k]) for k in range(self.limit)]
        shutil.rmtree(os.path.join(self.folder, SEGMENTATION_DIR), ignore_errors=True)  # last evaluation's maps
        evaluation = Evaluation(self.folder, self.protocol, samples, Variants(), self.settings.segmenter_weights,
                                self.device, self.settings.batchSize)
        metrics = evaluation.run()
        return {'miou': metrics['miou'], 'accuracy': metrics['accuracy']}

    def evaluate(self, synthesize: Callable[[dict], torch.Tensor], segmentation: bool) -> Dict[str, float]:
        """FID, and with `segmentation` the protocol's mIoU and accuracy."""
        real = os.path.join(self.folder, 'real')
        if not os.path.isdir(real):
            self._write('real', lambda batch: batch['image'])
        fake = self._write('fake', synthesize)
        scores = {'fid': fid_between(real, fake, self.settings.inception_weights, device=self.device,
                                     cache_dir=os.path.join(self.folder, 'stats'), dims=self.settings.fid_dims)}
        if segmentation:
            scores.update(self.segmentation_scores(fake))
        return scores

    def record(self, scores: Dict[str, float], epoch: int, step: int) -> bool:
        """Log the scores; True when the --best_metric is the best so far (and note it in best_<metric>.json)."""
        with open(self.log_path, 'a') as log:
            log.write(f'epoch {epoch} iteration {step} ' + ' '.join(f'{k} {v:.4f}' for k, v in scores.items()) + '\n')
        value = scores.get(self.metric)
        if value is None:
            return False
        if self.best is not None and (value >= self.best if LOWER_IS_BETTER[self.metric] else value <= self.best):
            return False
        self.best = value
        atomic_write_text(self.best_path,
                          json.dumps({**scores, 'metric': self.metric, 'epoch': epoch, 'iteration': step}))
        return True

