"""FID on the validation split during training (rank 0), its log, and the best value so far."""
import argparse
import copy
import json
import os
import shutil
from typing import Callable, Optional

import torch

import data
from util import util
from util.checkpoint import CheckpointStore, atomic_write_text
from util.device import select_device
from util.fid import fid_between, inception_model


class FIDMonitor:
    """Writes the real validation images once (at the generator's resolution), then for each evaluation the
    synthesised ones, and compares them with pytorch-fid. The real statistics are cached."""

    def __init__(self, opt: argparse.Namespace):
        self.opt = opt
        store = CheckpointStore.of(opt)
        self.folder = store.path('fid')
        self.log_path = store.path('fid_log.txt')
        self.best_path = store.path('best_fid.json')
        self.best: Optional[float] = None
        if os.path.isfile(self.best_path):
            with open(self.best_path) as f:
                self.best = json.load(f)['fid']
        val_opt = copy.copy(opt)
        val_opt.isTrain, val_opt.phase, val_opt.serial_batches, val_opt.no_flip = False, 'val', True, True
        self.loader = data.create_dataloader(val_opt)
        self.limit = opt.fid_num_images or len(self.loader.dataset)
        # The Inception weights are read now, so that a bad or missing file stops the start, not the first evaluation.
        inception_model(opt.inception_weights, 'cpu', opt.fid_dims)

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

    def evaluate(self, synthesize: Callable[[dict], torch.Tensor]) -> float:
        real = os.path.join(self.folder, 'real')
        if not os.path.isdir(real):
            self._write('real', lambda batch: batch['image'])
        fake = self._write('fake', synthesize)
        device = str(select_device(self.opt.gpu_ids))  # the training process's own device
        return fid_between(real, fake, self.opt.inception_weights, device=device,
                           cache_dir=os.path.join(self.folder, 'stats'), dims=self.opt.fid_dims)

    def record(self, fid: float, epoch: int, step: int) -> bool:
        """Log the value; True when it is the best so far (and note it in best_fid.json)."""
        with open(self.log_path, 'a') as log:
            log.write(f'epoch {epoch} iteration {step} fid {fid:.4f}\n')
        if self.best is not None and fid >= self.best:
            return False
        self.best = fid
        atomic_write_text(self.best_path, json.dumps({'fid': fid, 'epoch': epoch, 'iteration': step}))
        return True
