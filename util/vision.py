"""torchvision, imported where a command first needs it (photos, VGG, Inception), with one line when the installed
torchvision does not belong to the installed torch (a CPU torch beside a torchvision from another index fails on
import with `operator torchvision::nms does not exist`)."""
import importlib.metadata
from types import ModuleType

from util.errors import UserError, exception_reason


def require_torchvision() -> ModuleType:
    """torchvision, or one line naming both versions and how to install a matching pair."""
    try:
        import torchvision
        return torchvision
    except (ImportError, RuntimeError, OSError) as exc:
        import torch
        try:
            installed = importlib.metadata.version('torchvision')
        except importlib.metadata.PackageNotFoundError:
            installed = 'none'
        raise UserError(f'torchvision {installed} does not work with torch {torch.__version__} '
                        f'({exception_reason(exc, 80)}): install both from one index, e.g. python -m pip install '
                        'torch torchvision --index-url https://download.pytorch.org/whl/cpu (check: python -c '
                        '"import torch, torchvision")') from None
