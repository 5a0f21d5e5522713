"""Where training is, and whether a periodic action (print, display, save, evaluate) is due."""
from typing import Dict


class IterationCounter:
    """Counts in samples, as the reference: `total_steps` grows by `samples_per_step` (batch size times processes)
    at every iteration, and an action every N iterations is due when a multiple of N was passed."""

    def __init__(self, samples_per_step: int, batches_per_epoch: int, total_epochs: int,
                 first_epoch: int = 1, batches_done: int = 0):
        self.samples_per_step = samples_per_step
        self.first_epoch, self.total_epochs = first_epoch, total_epochs
        self.epoch = first_epoch
        self.batches_done = batches_done  # in the current epoch
        self.total_steps = ((first_epoch - 1) * batches_per_epoch + batches_done) * samples_per_step

    def epochs(self) -> range:
        return range(self.first_epoch, self.total_epochs + 1)

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def record_step(self) -> None:
        self.total_steps += self.samples_per_step
        self.batches_done += 1

    def end_epoch(self) -> None:
        self.batches_done = 0

    @property
    def epoch_iter(self) -> int:
        """Samples seen in the current epoch."""
        return self.batches_done * self.samples_per_step

    def needs(self, freq: int) -> bool:
        """Whether the iteration just recorded passed a multiple of `freq` samples."""
        return freq > 0 and self.total_steps % freq < self.samples_per_step

    def is_last_epoch(self) -> bool:
        return self.epoch == self.total_epochs

    def position(self, epoch_finished: bool = False) -> Dict[str, int]:
        """What the training state records: where a resumed run starts."""
        if epoch_finished:
            return {'epoch': self.epoch + 1, 'epoch_iter': 0, 'total_steps': self.total_steps}
        return {'epoch': self.epoch, 'epoch_iter': self.epoch_iter, 'total_steps': self.total_steps}
