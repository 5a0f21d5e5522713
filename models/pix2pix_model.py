"""The reference's module path and class name (SPADE's models/pix2pix_model.Pix2PixModel), kept for scripts that
import them: the pix2pix method lives in models/methods/pix2pix/."""
from .methods.pix2pix.objective import Pix2PixModel

__all__ = ['Pix2PixModel']
