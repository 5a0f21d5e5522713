"""The reference's module path and class name (SPADE's trainers/pix2pix_trainer.Pix2PixTrainer), kept for scripts
that import them: the one trainer of every method is trainers.trainer.Trainer."""
from .trainer import Trainer as Pix2PixTrainer

__all__ = ['Pix2PixTrainer']
