"""Training and test outputs for people: loss_log.txt, the training page with a loss plot, TensorBoard, test pages."""
import io
import json
import ntpath
import os
import time
from collections import OrderedDict
from typing import Dict, List, Tuple

import numpy as np
import torch

from util import html, util
from util.atomic import atomic_write_text
from util.errors import UserError

PAGE_ROWS = 20  # the training page shows the most recent displays
# Validation scores during training: the key each has in the code, its name on the page, the page's panels.
SCORE_NAMES = {'fid': 'FID', 'miou': 'mIoU', 'accuracy': 'accuracy'}
SCORE_PANELS = [('FID (lower is better)', ['FID']), ('mIoU and accuracy, % (higher is better)', ['mIoU', 'accuracy'])]


def loss_panels(names) -> List[Tuple[str, List[str]]]:
    """Losses grouped so that each panel's curves share a scale: the λ-weighted matching terms are ten times the
    adversarial ones, and the discriminator's have their own range."""
    groups = [('generator: adversarial', [n for n in names if n == 'GAN']),
              ('generator: feature matching, VGG, KL (weighted)',
               [n for n in names if n != 'GAN' and not n.startswith('D_')]),
              ('discriminator', [n for n in names if n.startswith('D_')])]
    return [(title, sorted(members)) for title, members in groups if members]


def history_plot_svg(history: Dict[str, List[List[float]]], panels: List[Tuple[str, List[str]]]) -> str:
    """Line charts of the series in `history` against iterations, one panel per (title, names), as inline SVG."""
    from matplotlib.figure import Figure  # the object API: no GUI backend, no global state
    panels = [(title, [n for n in names if len(history.get(n, [])) > 0]) for title, names in panels]
    panels = [(title, names) for title, names in panels if names]
    if not panels or sum(len(history[n]) for _, names in panels for n in names) < 2:
        return ''
    figure = Figure(figsize=(6.4, 2.2 * len(panels)), dpi=100, layout='constrained')
    for axes, (title, names) in zip(figure.subplots(len(panels), 1, squeeze=False)[:, 0], panels):
        for name in names:
            steps, values = zip(*history[name])
            axes.plot(steps, values, label=name, linewidth=1.2)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel('iteration (samples)', fontsize=9)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, loc='best')
        axes.tick_params(labelsize=8)
    buffer = io.StringIO()
    figure.savefig(buffer, format='svg')
    text = buffer.getvalue()
    return text[text.index('<svg'):]


class Visualizer:
    """Only rank 0 constructs one; every method writes files."""

    def __init__(self, folder: str, name: str, label_colors: np.ndarray, display_winsize: int = 400,
                 resume: bool = False, tf_log: bool = False):
        """The training run's pages and logs in `folder` (checkpoints/<name>); `label_colors`: (channels, 3) uint8,
        the colour of each label channel on the pages; `resume`: go on with the histories saved there;
        `tf_log`: also write TensorBoard events."""
        self.name, self.display_winsize = name, display_winsize
        self.label_colors = label_colors
        self.expr_dir = folder
        self.web_dir = os.path.join(self.expr_dir, 'web')
        self.img_dir = os.path.join(self.web_dir, 'images')
        self.log_name = os.path.join(self.expr_dir, 'loss_log.txt')
        self.history_path = os.path.join(self.expr_dir, 'loss_history.json')
        self.history: Dict[str, List[List[float]]] = {}
        self.score_history: Dict[str, List[List[float]]] = {}
        self.displays: List[str] = []
        self.writer = None
        if os.path.isfile(self.history_path) and resume:
            with open(self.history_path) as f:
                saved = json.load(f)
            self.history, self.displays = saved.get('losses', {}), saved.get('displays', [])
            self.score_history = saved.get('scores', saved.get('fid', {}))  # 'fid': runs before --eval_freq
        if tf_log:
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
            converted[key] = util.tensor2label(tensor,
                                               self.label_colors) if key == 'input_label' else util.tensor2im(tensor)
        return converted

    def log_losses(self, epoch: int, i: int, losses: Dict[str, float], t: float) -> str:
        """Append a line to loss_log.txt in the reference's format (iters: images into the epoch)."""
        message = f'(epoch: {epoch}, iters: {i}, time: {t:.3f}) ' + ' '.join(f'{k}: {v:.3f}' for k, v in losses.items())
        with open(self.log_name, 'a') as log_file:
            log_file.write(message + '\n')
        return message

    def record_losses(self, losses: Dict[str, float], step: int) -> None:
        """Keep the losses for the page's plots (and TensorBoard with --tf_log)."""
        for tag, value in losses.items():
            self.history.setdefault(tag, []).append([step, value])
            if self.writer is not None:
                self.writer.add_scalar(tag, value, step)

    def plot_scores(self, scores: Dict[str, float], step: int) -> None:
        """Keep the validation scores ('fid', 'miou', 'accuracy') for the page's plots (and TensorBoard)."""
        for key, value in scores.items():
            self.score_history.setdefault(SCORE_NAMES[key], []).append([step, value])
            if self.writer is not None:
                self.writer.add_scalar(SCORE_NAMES[key], value, step)

    def display_current_results(self, visuals: Dict[str, torch.Tensor], epoch: int, step: int) -> str:
        """Save the first sample's images and rewrite checkpoints/<name>/web/index.html."""
        prefix = f'epoch{epoch:03d}_iter{step:08d}'
        for label, image in self.convert_visuals(visuals).items():
            util.save_image(image, os.path.join(self.img_dir, f'{prefix}_{label}.png'))
        if prefix not in self.displays:
            self.displays.append(prefix)
        self.displays = self.displays[-PAGE_ROWS:]
        atomic_write_text(self.history_path, json.dumps({'losses': self.history, 'displays': self.displays,
                                                         'scores': self.score_history}))
        webpage = html.HTML(self.web_dir, f'Experiment name = {self.name}', refresh=30)
        webpage.add_header('losses')
        webpage.add_raw(history_plot_svg(self.history, loss_panels(self.history)))
        if self.score_history:
            webpage.add_header('scores on the validation split')
            webpage.add_raw(history_plot_svg(self.score_history, SCORE_PANELS))
        for shown in reversed(self.displays):
            webpage.add_header(shown.replace('_', ' '))
            names = [f'{shown}_{label}.png' for label in visuals]
            webpage.add_images(names, list(visuals), names, width=self.display_winsize)
        return webpage.save()


TEST_VISUALS = ('input_label', 'synthesized_image', 'real_image')
# The folders of a test sample's images (the label also in colour, for the page).
TEST_IMAGE_FOLDERS = ('input_label', 'input_label_color', 'synthesized_image', 'real_image')


def test_image_name(image_path: str) -> str:
    """The name a test sample's images get: its photo's file name without extension."""
    return os.path.splitext(ntpath.basename(image_path))[0]


def save_test_images(image_dir: str, visuals: Dict[str, torch.Tensor], name: str, label_colors: np.ndarray) -> None:
    """Test images as the reference: images/<visual>/<name>.png, the label saved as grey ids (for evaluation
    scripts) and, for the page, in the classes' colours (images/input_label_color/)."""
    for label, tensor in visuals.items():
        if label == 'input_label':
            util.save_image(util.tensor2labelgray(tensor), os.path.join(image_dir, label, f'{name}.png'))
            label, image = 'input_label_color', util.tensor2label(tensor, label_colors)
        else:
            image = util.tensor2im(tensor)
        util.save_image(image, os.path.join(image_dir, label, f'{name}.png'))


def add_test_row(webpage: html.HTML, name: str, width: int) -> None:
    """The page's row of a test sample whose images save_test_images wrote."""
    webpage.add_header(name)
    shown = [os.path.join('input_label_color' if label == 'input_label' else label, f'{name}.png')
             for label in TEST_VISUALS]
    webpage.add_images(shown, list(TEST_VISUALS), shown, width=width)
