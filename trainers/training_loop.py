"""The training loop: set-up, then for every batch the steps of the model's method (a G step and a D step), and the
periodic logging, pages, checkpoints and FID evaluation. One process, or one of several under torchrun (DDP); only
rank 0 writes."""
import os
import random
import signal
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Callable, Dict, Optional

import numpy as np
import torch
from tqdm import tqdm

import data
from data.settings import DataSettings
from models.recipe import ModelRecipe
from models.sources import load_weights, resolve
from trainers.trainer import NonFiniteLossError, OptimizationSettings, Trainer
from trainers.validation import ValidationMonitor, ValidationSettings
from util.checkpoint import CheckpointStore
from util.device import select_device
from util.distributed import DistInfo, all_true, barrier, init_distributed
from util.errors import Stopped, UserError
from util.iter_counter import IterationCounter
from util.paths import check_output_apart
from util.threads import follow_fair_share
from util.visualizer import SCORE_NAMES, Visualizer


@dataclass(frozen=True)
class LoopSettings:
    """The training loop's own options: the run folder, resuming, how long, and what happens every N images."""
    name: str
    checkpoints_dir: str
    gpu_ids: str
    sync_bn: bool
    continue_train: bool
    init_from: str
    which_epoch: str
    overwrite: bool
    seed: int
    batchSize: int
    debug: bool
    niter: int
    niter_decay: int
    print_freq: int
    display_freq: int
    save_latest_freq: int
    save_epoch_freq: int
    fid_freq: int
    eval_freq: int
    no_html: bool
    display_winsize: int
    tf_log: bool


@dataclass(frozen=True)
class TrainingRun:
    """train.py's job: everything the training loop reads, and how to build the model the options describe."""
    loop: LoopSettings
    data: DataSettings
    validation_data: DataSettings  # the validation split, in order and unflipped
    optimization: OptimizationSettings
    validation: ValidationSettings
    model: ModelRecipe  # how to build the model with fresh weights; the loop loads --which_epoch to resume


class InterruptFlag:
    """The first Ctrl-C (SIGINT) or SIGTERM (what job schedulers send before they kill a job) asks the loop to save
    and stop at the next iteration boundary; a second one aborts. `restore` puts back the handlers there were
    before (training from Python leaves the process as it found it)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.raised = False
        self.previous = {number: signal.signal(number, self.handle) for number in self.SIGNALS}

    def handle(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def restore(self) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def first_batches(settings: DataSettings, batch_size: int, count: int) -> torch.utils.data.DataLoader:
    """The first `count` training batches, in order, with the augmentation of the first epoch, read each time they
    are iterated: fixed batches for re-estimating the averaged generator's BatchNorm statistics (OASIS's 51 batches
    of 32 would take gigabytes held in memory)."""
    dataset = data.create_dataset(settings)
    items = torch.utils.data.Subset(dataset, range(min(len(dataset), count * batch_size)))
    return torch.utils.data.DataLoader(items, batch_size=batch_size, shuffle=False)


class TrainingLoop:
    def __init__(self, run: TrainingRun, save_options: Callable[[], None]):
        """`save_options` prints the options and writes opt.txt/opt.json (TrainOptions.save_options); it runs once
        the data and the networks are built. A start that fails before leaves the run folder as it was."""
        self.settings = run
        # --debug: print and display every iteration, as the reference does
        self.loop = loop = replace(run.loop, print_freq=1, display_freq=1) if run.loop.debug else run.loop
        self.dist = init_distributed(select_device(loop.gpu_ids).type == 'cuda')
        self.is_main = self.dist.is_main
        self.store = CheckpointStore(loop.checkpoints_dir, loop.name)
        folder_existed = os.path.isdir(self.store.folder)
        self.run_lock = None
        try:
            self.set_up(save_options)
        except BaseException:
            if self.run_lock is not None:
                self.run_lock.release()
            if self.is_main and not folder_existed:
                self.store.remove_folder_if_empty()
            raise

    def check_not_overwriting(self) -> None:
        """A finished or running run is never replaced silently: a new run needs a new --name, --continue_train or
        --overwrite."""
        epochs = self.store.epochs()
        if epochs and not self.loop.continue_train and not self.loop.overwrite:
            raise UserError(f'{self.store.folder} already holds a trained run (epochs {", ".join(epochs)}): add '
                            '--continue_train to resume it, choose another --name, or add --overwrite to start over '
                            'and replace its checkpoints')

    def set_up(self, save_options: Callable[[], None]) -> None:
        loop = self.loop
        if self.dist.enabled and not loop.sync_bn and self.is_main:
            print('note: distributed on CPU (gloo): BatchNorm statistics are per process (no SyncBatchNorm on CPU)')
        self.settings.validation.check()
        check_output_apart(self.store.folder, '--checkpoints_dir', {**data.input_folders(self.settings.data),
                                                                   **data.input_folders(self.settings.validation_data)})
        if loop.continue_train and loop.which_epoch not in self.store.epochs():
            available = self.store.epochs()
            raise UserError(f'--continue_train: no checkpoint {loop.which_epoch}_net_G.pth in {self.store.folder}; '
                            + (f'available epochs: {", ".join(available)}' if available else 'check --name and '
                                                                                             '--checkpoints_dir'))
        if self.is_main:
            self.store.check_writable()
            self.check_not_overwriting()
            self.run_lock = self.store.lock()
            stale = self.store.remove_stale_temporaries()
            if stale:
                print(f'note: removed {len(stale)} temporary file(s) that an interrupted save left in '
                      f'{self.store.folder}')
        seed_everything(loop.seed)

        self.dataloader = data.create_dataloader(self.settings.data, self.dist.world_size, self.dist.rank)
        self.trainer = build_trainer(self.settings, self.dist)
        self.counter = self.initial_counter()
        validating = loop.fid_freq > 0 or loop.eval_freq > 0
        self.validation = None
        if validating and self.is_main:
            with self.trainer.forked_rng():  # building Inception draws random weights: not from the training RNG
                self.validation = build_validation(self.settings, str(self.trainer.model.device))
        ema = self.trainer.ema
        self.refresh_batches = [] if ema is None else \
            first_batches(self.settings.data, loop.batchSize, ema.policy.refresh_batches)
        self.ema_refreshed_at = None
        if self.is_main:
            save_options()
        self.visualizer = Visualizer(self.store.folder, loop.name, self.trainer.model.spec.labels.colors,
                                     loop.display_winsize, loop.continue_train, loop.tf_log) if self.is_main else None
        self.interrupt = InterruptFlag()
        # (epoch, iteration in images) of each step since the last finiteness check, and how many steps came before.
        self.positions, self.steps_checked = [], 0

    def initial_counter(self) -> IterationCounter:
        """At the start, or where the training state of --which_epoch says (weights are already loaded)."""
        loop = self.loop
        samples_per_step = loop.batchSize * self.dist.world_size
        first_epoch, batches_done = 1, 0
        if loop.continue_train:
            position = self.trainer.load_training_state(loop.which_epoch)
            if position is None:
                if self.is_main:
                    print(f'note: no training state beside {loop.which_epoch}_net_G.pth: weights loaded, optimizers '
                          f'start fresh')
            else:
                first_epoch, batches_done = position['epoch'], position['epoch_iter'] // samples_per_step
        total_epochs = first_epoch if loop.debug else loop.niter + loop.niter_decay
        return IterationCounter(samples_per_step, len(self.dataloader), total_epochs, first_epoch, batches_done)

    def run(self) -> None:
        try:
            self.run_epochs()
        finally:
            self.interrupt.restore()
            if self.run_lock is not None:
                self.run_lock.release()

    def run_epochs(self) -> None:
        for epoch in self.counter.epochs():
            self.counter.start_epoch(epoch)
            self.run_epoch()
            self.trainer.update_learning_rate(epoch)
            if self.is_main:
                self.save('latest', self.counter.position(epoch_finished=True))
                if epoch % self.loop.save_epoch_freq == 0 or self.counter.is_last_epoch():
                    self.save(epoch, self.counter.position(epoch_finished=True))
            barrier(self.dist)
        if self.is_main:
            print(f'Training finished: checkpoints in {self.store.folder}, training page '
                  f'{self.store.path("web/index.html")}')

    def run_epoch(self) -> None:
        counter, loader = self.counter, self.dataloader
        loader.sampler.set_epoch(counter.epoch)
        loader.dataset.set_epoch(counter.epoch)
        loader.sampler.start_index = counter.batches_done * self.loop.batchSize
        # Counted in images, as iterations are everywhere (loss_log.txt, pages, --*_freq, the reference).
        batches = tqdm(loader, desc=f'epoch {counter.epoch}/{counter.total_epochs}', initial=counter.batches_done,
                       total=counter.batches_done + len(loader), disable=not self.is_main, dynamic_ncols=True,
                       unit='img', unit_scale=counter.samples_per_step)
        iter_start, batch = time.time(), None
        for batch in batches:
            self.step(batch)
            counter.record_step()
            self.positions.append((counter.epoch, counter.epoch_iter))
            # Host synchronisations only where the reference has them (printing losses) and before writing: the
            # losses' finiteness and, distributed, whether any process was interrupted, so that all stop together.
            due = any(counter.needs(freq) for freq in (self.loop.print_freq, self.loop.display_freq,
                                                       self.loop.save_latest_freq, self.loop.fid_freq,
                                                       self.loop.eval_freq))
            stop = self.interrupt.raised if not self.dist.enabled else \
                due and not all_true(not self.interrupt.raised, self.dist)
            if due or stop:
                self.check_finite()
            if self.is_main:
                self.report(batches, batch, time.time() - iter_start)
                if counter.needs(self.loop.save_latest_freq) or stop:
                    self.save('latest', counter.position())
                segmentation_due = counter.needs(self.loop.eval_freq)
                if self.validation is not None and (segmentation_due or counter.needs(self.loop.fid_freq)):
                    self.evaluate(segmentation_due)
            if counter.needs(self.loop.fid_freq) or counter.needs(self.loop.eval_freq):
                barrier(self.dist)  # the other ranks wait for rank 0's evaluation
            if stop:
                barrier(self.dist)
                raise Stopped(f'interrupted: saved latest at epoch {counter.epoch}, iteration {counter.epoch_iter} '
                              f'in {self.store.folder}; add --continue_train to resume')
            iter_start = time.time()
        batches.close()
        self.check_finite()
        if self.is_main and not self.loop.no_html and batch is not None:
            self.visualizer.display_current_results(self.latest_visuals(batch), counter.epoch, counter.total_steps)
        counter.end_epoch()

    def step(self, batch: Dict) -> None:
        follow_fair_share()
        self.trainer.run_iteration(batch)

    def check_finite(self) -> None:
        """Stop, naming the iteration, if a loss has not been finite since the last check."""
        try:
            self.trainer.check_finite()
        except NonFiniteLossError as exc:
            where = ''
            if 0 <= exc.step - self.steps_checked < len(self.positions):
                epoch, iteration = self.positions[exc.step - self.steps_checked]
                where = f' at epoch {epoch}, iteration {iteration}'
            raise UserError(f'{exc}{where}: training stopped, the checkpoints in {self.store.folder} are untouched '
                            '(lower --lr or check the data)') from None
        self.steps_checked += len(self.positions)
        self.positions = []

    def report(self, batches: tqdm, batch: Dict, seconds: float) -> None:
        """When due: the progress bar's losses, loss_log.txt and the loss history; the training page."""
        counter = self.counter
        if counter.needs(self.loop.print_freq):
            ema = self.trainer.ema
            if ema is not None and ema.policy.refresh_when_printing:  # OASIS: whenever its images could be looked at
                self.refresh_ema()
            # Read (a host synchronisation) only when printed, as the reference does.
            losses = {k: v.mean().item() for k, v in self.trainer.get_latest_losses().items()}
            batches.set_postfix({k: f'{v:.3f}' for k, v in losses.items()}, refresh=False)
            self.visualizer.log_losses(counter.epoch, counter.epoch_iter, losses,
                                                 seconds / counter.samples_per_step)
            self.visualizer.record_losses(losses, counter.total_steps)
        if counter.needs(self.loop.display_freq) and not self.loop.no_html:
            self.visualizer.display_current_results(self.latest_visuals(batch), counter.epoch, counter.total_steps)

    def latest_visuals(self, batch: Dict) -> OrderedDict:
        """The batch's first label map and photo, and the image generated from it when the method's steps make one
        (a diffusion model's training step does not)."""
        generated = self.trainer.get_latest_generated()
        return OrderedDict([('input_label', batch['label'][0]),
                            *([('synthesized_image', generated[0])] if generated is not None else []),
                            ('real_image', batch['image'][0])])

    def refresh_ema(self) -> None:
        """Re-estimate the average's BatchNorm statistics, once an iteration whatever asks for it (a print, saves,
        a score): another pass would move OASIS's running statistics again, so that a run resumed from the first
        save would go on from another state than the run that saved it."""
        if self.trainer.ema is not None and self.ema_refreshed_at != self.counter.total_steps:
            self.trainer.refresh_ema(self.refresh_batches)
            self.ema_refreshed_at = self.counter.total_steps

    def save(self, epoch_label, position: Dict[str, int]) -> None:
        self.refresh_ema()
        self.trainer.save(epoch_label, position)

    def evaluate(self, segmentation: bool) -> None:
        trainer, counter = self.trainer, self.counter
        self.refresh_ema()
        # Scoring (Inception's and the segmenter's set-up too) leaves the training RNG as it was.
        with trainer.forked_rng():
            scores = self.validation.evaluate(lambda batch: trainer.synthesize(batch, use_ema=trainer.ema is not None),
                                              segmentation)
        self.visualizer.plot_scores(scores, counter.total_steps)
        print(f'\nat epoch {counter.epoch}, iteration {counter.total_steps}: '
              + ', '.join(f'{SCORE_NAMES[k]} {v:.3f}' for k, v in scores.items()))
        if self.validation.record(scores, counter.epoch, counter.total_steps):
            trainer.save('best')


def build_trainer(run: TrainingRun, dist_info: Optional[DistInfo] = None) -> Trainer:
    """The trainer of a training run: its model (with --continue_train, the --which_epoch weights; with --init_from,
    the weights of another model, for every network that both have)."""
    store = CheckpointStore(run.loop.checkpoints_dir, run.loop.name)
    model = run.model.build(store)
    if run.loop.continue_train:
        load_weights(model.networks_by_label(), resolve(store.folder, run.loop.which_epoch, spec=model.spec))
    elif run.loop.init_from:
        source = resolve(run.loop.init_from, run.loop.which_epoch, option='--init_from')
        if os.path.abspath(source.folder) == os.path.abspath(store.folder):
            raise UserError(f'--init_from {run.loop.init_from} is this run\'s own folder: give the new run another '
                            '--name, or resume it with --continue_train')
        if source.spec.method != model.spec.method:
            raise UserError(f'--init_from {run.loop.init_from} is a {source.spec.method} model, and this run trains '
                            f'--model {model.spec.method}: give a model of the same method')
        shared = {label: net for label, net in model.networks_by_label().items() if label in source.files}
        read = load_weights(shared, source)
        if dist_info is None or dist_info.is_main:
            print(f'fine-tuning from {run.loop.init_from}: ' + ', '.join(f'{label} ({path})' for label, path in
                                                                        zip(shared, read))
                  + '; a fresh optimizer and count')
    return Trainer(model, run.optimization, dist_info)


def build_validation(run: TrainingRun, device: str) -> ValidationMonitor:
    """The scores during training of a training run, computed on `device` (the training process's)."""
    return ValidationMonitor(CheckpointStore(run.loop.checkpoints_dir, run.loop.name), run.validation,
                             data.create_dataloader(run.validation_data), device)


def train(run: TrainingRun, save_options: Callable[[], None]) -> None:
    TrainingLoop(run, save_options).run()
