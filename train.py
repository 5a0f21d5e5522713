"""Train CC-FPSE: `python train.py ...` in one process, `torchrun --nproc_per_node=N train.py ...` with DDP."""
import os
import random
import signal
import time
from collections import OrderedDict

import numpy as np
import torch
from tqdm import tqdm

import data
from options.train_options import TrainOptions
from trainers.fid_monitor import FIDMonitor
from trainers.pix2pix_trainer import NonFiniteLossError, Pix2PixTrainer
from util.checkpoint import existing_epochs
from util.device import select_device
from util.distributed import all_true, barrier, init_distributed, launched_rank
from util.errors import UserError, run_cli
from util.visualizer import Visualizer


EMA_REFRESH_BATCHES = 4


class InterruptFlag:
    """The first Ctrl-C asks the loop to save and stop at the next iteration boundary; a second one aborts."""

    def __init__(self):
        self.raised = False
        signal.signal(signal.SIGINT, self.handle)

    def handle(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True


def check_writable(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, '.write_test')
        with open(probe, 'w') as f:
            f.write('ok')
        os.remove(probe)
    except OSError as exc:
        raise UserError(f'cannot write to {folder} ({exc.strerror}): choose another --checkpoints_dir') from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def first_batches(dataset, batch_size: int, count: int = EMA_REFRESH_BATCHES) -> list:
    """A few fixed training batches for re-estimating the averaged generator's BatchNorm statistics."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    return [batch for _, batch in zip(range(count), loader)]


def main() -> None:
    options = TrainOptions()
    opt = options.parse(quiet=launched_rank() != 0)
    device = select_device(opt)
    dist_info = init_distributed(device.type == 'cuda')
    # SyncBatchNorm has no CPU kernel: on CPU every process normalises with its own batch statistics.
    opt.sync_bn = dist_info.enabled and device.type == 'cuda'
    if dist_info.enabled and not opt.sync_bn and dist_info.is_main:
        print('note: distributed on CPU (gloo): BatchNorm statistics are per process (no SyncBatchNorm on CPU)')
    if opt.debug:
        opt.display_freq = opt.print_freq = 1
    expr_dir = os.path.join(opt.checkpoints_dir, opt.name)
    if opt.continue_train and opt.which_epoch not in existing_epochs(opt.checkpoints_dir, opt.name):
        available = existing_epochs(opt.checkpoints_dir, opt.name)
        raise UserError(f'--continue_train: no checkpoint {opt.which_epoch}_net_G.pth in {expr_dir}; '
                        + (f'available epochs: {", ".join(available)}' if available else 'check --name and --checkpoints_dir'))
    if dist_info.is_main:
        check_writable(expr_dir)
        options.save_options(opt)
    seed_everything(opt.seed)

    dataloader = data.create_dataloader(opt, dist_info.world_size, dist_info.rank)
    trainer = Pix2PixTrainer(opt, dist_info)
    samples_per_step = opt.batchSize * dist_info.world_size
    first_epoch, batches_done = 1, 0
    if opt.continue_train:
        position = trainer.load_training_state(opt.which_epoch)
        if position is None:
            if dist_info.is_main:
                print(f'note: no training state beside {opt.which_epoch}_net_G.pth: weights loaded, optimizers start fresh')
        else:
            first_epoch, batches_done = position['epoch'], position['epoch_iter'] // samples_per_step
    total_epochs = first_epoch if opt.debug else opt.niter + opt.niter_decay
    total_steps = ((first_epoch - 1) * len(dataloader) + batches_done) * samples_per_step
    visualizer = Visualizer(opt) if dist_info.is_main else None
    fid_monitor = FIDMonitor(opt) if opt.fid_freq > 0 and dist_info.is_main else None
    refresh_batches = first_batches(dataloader.dataset, opt.batchSize) if trainer.ema is not None else []
    interrupt = InterruptFlag()

    def position(epoch: int, done: int) -> dict:
        return {'epoch': epoch, 'epoch_iter': done * samples_per_step, 'total_steps': total_steps}

    def latest_visuals(batch: dict) -> OrderedDict:
        return OrderedDict([('input_label', batch['label'][0]), ('synthesized_image', trainer.get_latest_generated()[0]),
                            ('real_image', batch['image'][0])])

    def every(freq: int) -> bool:
        return total_steps % freq < samples_per_step

    def save(epoch_label, saved_position) -> None:
        if trainer.ema is not None:
            trainer.refresh_ema(refresh_batches)
        trainer.save(epoch_label, saved_position)

    def evaluate_fid(epoch: int) -> None:
        if trainer.ema is not None:
            trainer.refresh_ema(refresh_batches)
        fid = fid_monitor.evaluate(lambda batch: trainer.synthesize(batch, use_ema=trainer.ema is not None))
        visualizer.plot_fid(fid, total_steps)
        print(f'\nFID {fid:.3f} at epoch {epoch}, iteration {total_steps}')
        if fid_monitor.record(fid, epoch, total_steps):
            trainer.save('best')

    for epoch in range(first_epoch, total_epochs + 1):
        dataloader.sampler.set_epoch(epoch)
        dataloader.dataset.set_epoch(epoch)
        dataloader.sampler.start_index = batches_done * opt.batchSize
        batches = tqdm(dataloader, desc=f'epoch {epoch}/{total_epochs}', initial=batches_done,
                       total=batches_done + len(dataloader), disable=not dist_info.is_main, dynamic_ncols=True)
        iter_start, data_i = time.time(), None
        for i, data_i in enumerate(batches, start=batches_done):
            try:
                trainer.run_generator_one_step(data_i)
                trainer.run_discriminator_one_step(data_i)
            except NonFiniteLossError as exc:
                raise UserError(f'{exc} at epoch {epoch}, iteration {i + 1}: training stopped, the checkpoints in '
                                f'{expr_dir} are untouched (lower --lr or check the data)') from None
            total_steps += samples_per_step
            batches_done = i + 1
            # Every process stops at the same iteration when any of them was interrupted.
            stop = not all_true(not interrupt.raised, dist_info)
            if dist_info.is_main:
                losses = {k: v.mean().item() for k, v in trainer.get_latest_losses().items()}
                batches.set_postfix({k: f'{v:.3f}' for k, v in losses.items()}, refresh=False)
                if every(opt.print_freq):
                    visualizer.print_current_errors(epoch, batches_done * samples_per_step, losses,
                                                    (time.time() - iter_start) / samples_per_step)
                    visualizer.plot_current_errors(losses, total_steps)
                if every(opt.display_freq) and not opt.no_html:
                    visualizer.display_current_results(latest_visuals(data_i), epoch, total_steps)
                if every(opt.save_latest_freq) or stop:
                    save('latest', position(epoch, batches_done))
                if fid_monitor is not None and every(opt.fid_freq):
                    evaluate_fid(epoch)
            if opt.fid_freq > 0 and every(opt.fid_freq):
                barrier(dist_info)  # the other ranks wait for rank 0's evaluation
            if stop:
                barrier(dist_info)
                raise UserError(f'interrupted: saved latest at epoch {epoch}, iteration {batches_done} in {expr_dir}; '
                                'add --continue_train to resume')
            iter_start = time.time()
        batches.close()
        if dist_info.is_main and not opt.no_html and data_i is not None:
            visualizer.display_current_results(latest_visuals(data_i), epoch, total_steps)
        batches_done = 0
        trainer.update_learning_rate(epoch)
        if dist_info.is_main:
            save('latest', position(epoch + 1, 0))
            if epoch % opt.save_epoch_freq == 0 or epoch == total_epochs:
                save(epoch, position(epoch + 1, 0))
        barrier(dist_info)

    if dist_info.is_main:
        print(f'Training finished: checkpoints in {expr_dir}, training page {os.path.join(expr_dir, "web", "index.html")}')


if __name__ == '__main__':
    run_cli(main)
