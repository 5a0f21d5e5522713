"""Training and test outputs for people: loss_log.txt, the training page with a loss plot, TensorBoard, test pages."""
import argparse
import json
import ntpath
import os
import time
from collections import OrderedDict
from typing import Dict, List

import torch

from util import html, util
from util.errors import UserError

PLOT_COLORS = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f')
PAGE_ROWS = 20  # the training page shows the most recent displays


def loss_plot_svg(history: Dict[str, List[List[float]]], width: int = 640, height: int = 240) -> str:
    """A small line chart of every loss against iterations, as inline SVG (no plotting library needed)."""
    points = [pt for series in history.values() for pt in series]
    if len(points) < 2:
        return ''
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x0, x1 = min(xs), max(xs) or 1
    y0, y1 = min(ys), max(ys)
    y1 = y1 if y1 > y0 else y0 + 1
    sx = lambda x: 40 + (x - x0) / max(x1 - x0, 1e-9) * (width - 140)
    sy = lambda y: 10 + (y1 - y) / (y1 - y0) * (height - 30)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
             f'<rect width="{width}" height="{height}" fill="white" stroke="#ccc"/>',
             f'<text x="4" y="14" font-size="10">{y1:.3g}</text><text x="4" y="{height - 20}" font-size="10">{y0:.3g}</text>',
             f'<text x="40" y="{height - 4}" font-size="10">iteration {x0:g} .. {x1:g}</text>']
    for i, (name, series) in enumerate(sorted(history.items())):
        color = PLOT_COLORS[i % len(PLOT_COLORS)]
        line = ' '.join(f'{sx(x):.1f},{sy(y):.1f}' for x, y in series)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{line}"/>')
        parts.append(f'<text x="{width - 95}" y="{20 + 14 * i}" font-size="11" fill="{color}">{name}</text>')
    parts.append('</svg>')
    return ''.join(parts)


class Visualizer:
    """Only rank 0 constructs one; every method writes files."""

    def __init__(self, opt: argparse.Namespace):
        self.opt = opt
        self.num_labels = opt.label_nc + (1 if opt.contain_dontcare_label else 0)
        self.expr_dir = os.path.join(opt.checkpoints_dir, opt.name)
        self.web_dir = os.path.join(self.expr_dir, 'web')
        self.img_dir = os.path.join(self.web_dir, 'images')
        self.log_name = os.path.join(self.expr_dir, 'loss_log.txt')
        self.history_path = os.path.join(self.expr_dir, 'loss_history.json')
        self.history: Dict[str, List[List[float]]] = {}
        self.fid_history: Dict[str, List[List[float]]] = {}
        self.displays: List[str] = []
        self.writer = None
        if opt.isTrain:
            if os.path.isfile(self.history_path) and opt.continue_train:
                with open(self.history_path) as f:
                    saved = json.load(f)
                self.history, self.displays = saved.get('losses', {}), saved.get('displays', [])
                self.fid_history = saved.get('fid', {})
            if opt.tf_log:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:
                    raise UserError('--tf_log needs TensorBoard: pip install tensorboard (or drop --tf_log)') from None
                self.writer = SummaryWriter(os.path.join(self.expr_dir, 'logs'))
            with open(self.log_name, 'a') as log_file:
                log_file.write(f'================ Training Loss ({time.strftime("%c")}) ================\n')

    def convert_visuals(self, visuals: Dict[str, torch.Tensor]) -> Dict:
        converted = OrderedDict()
        for key, tensor in visuals.items():
            converted[key] = util.tensor2label(tensor, self.num_labels) if key == 'input_label' else util.tensor2im(tensor)
        return converted

    def print_current_errors(self, epoch: int, i: int, errors: Dict[str, float], t: float) -> str:
        message = f'(epoch: {epoch}, iters: {i}, time: {t:.3f}) ' + ' '.join(f'{k}: {v:.3f}' for k, v in errors.items())
        with open(self.log_name, 'a') as log_file:
            log_file.write(message + '\n')
        return message

    def plot_current_errors(self, errors: Dict[str, float], step: int) -> None:
        for tag, value in errors.items():
            self.history.setdefault(tag, []).append([step, value])
            if self.writer is not None:
                self.writer.add_scalar(tag, value, step)

    def plot_fid(self, fid: float, step: int) -> None:
        self.fid_history.setdefault('FID', []).append([step, fid])
        if self.writer is not None:
            self.writer.add_scalar('FID', fid, step)

    def display_current_results(self, visuals: Dict[str, torch.Tensor], epoch: int, step: int) -> str:
        """Save the first sample's images and rewrite checkpoints/<name>/web/index.html."""
        prefix = f'epoch{epoch:03d}_iter{step:08d}'
        for label, image in self.convert_visuals(visuals).items():
            util.save_image(image, os.path.join(self.img_dir, f'{prefix}_{label}.png'))
        if prefix not in self.displays:
            self.displays.append(prefix)
        self.displays = self.displays[-PAGE_ROWS:]
        from util.checkpoint import atomic_write_text
        atomic_write_text(self.history_path, json.dumps({'losses': self.history, 'displays': self.displays,
                                                         'fid': self.fid_history}))
        webpage = html.HTML(self.web_dir, f'Experiment name = {self.opt.name}', refresh=30)
        webpage.add_header('losses')
        webpage.add_raw(loss_plot_svg(self.history))
        if self.fid_history:
            webpage.add_header('FID on the validation split')
            webpage.add_raw(loss_plot_svg(self.fid_history))
        for shown in reversed(self.displays):
            webpage.add_header(shown.replace('_', ' '))
            names = [f'{shown}_{label}.png' for label in visuals]
            webpage.add_images(names, list(visuals), names, width=self.opt.display_winsize)
        return webpage.save()


def save_test_images(webpage: html.HTML, visuals: Dict[str, torch.Tensor], image_path: str, width: int) -> None:
    """Test pages as the reference: images/<visual>/<name>.png, the label saved as grey ids."""
    name = os.path.splitext(ntpath.basename(image_path))[0]
    webpage.add_header(name)
    ims = []
    for label, tensor in visuals.items():
        image = util.tensor2labelgray(tensor) if label == 'input_label' else util.tensor2im(tensor)
        relative = os.path.join(label, f'{name}.png')
        util.save_image(image, os.path.join(webpage.get_image_dir(), relative))
        ims.append(relative)
    webpage.add_images(ims, list(visuals), ims, width=width)
