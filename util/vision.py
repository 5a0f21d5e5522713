"""torchvision, imported where a command first needs it (photos, VGG, Inception), with one line when the installed
torchvision does not belong to the installed torch (a CPU torch beside a torchvision from another index fails on
import with `operator torchvision::nms does not exist`)."""
import importlib.metadata
from types import ModuleType

from util.errors import UserError, exception_reason


# How to replace a broken pair by a matching one: both out, then both from one index.
RECOVERY = ('install both from one index: python -m pip uninstall -y torch torchvision && python -m pip install '
            'torch torchvision --index-url https://download.pytorch.org/whl/cpu (a CUDA machine: drop --index-url); '
            'check: python -c "import torch, torchvision"')


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
                        f'({exception_reason(exc, 80)}): {RECOVERY}') from None


if __name__ == '__main__':  # `python -m util.vision`: the quickstart's check before it trains
    from util.errors import run_cli
    run_cli(lambda: print(f'torch {__import__("torch").__version__} and torchvision '
                          f'{require_torchvision().__version__}: a working pair'))
