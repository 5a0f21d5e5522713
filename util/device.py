"""Which device a process computes on."""
import os

import torch

_announced = False  # the CPU note has been printed in this process


def select_device(gpu_ids: str, announce: bool = False) -> torch.device:
    """The GPU if there is one (under torchrun, the one of LOCAL_RANK), the CPU otherwise or with --gpu_ids -1.

    With `announce` (where a model is placed), a GPU asked for but absent is said in one line, once a process, so
    that nobody waits on a CPU run unaware.
    """
    global _announced
    ids = [int(i) for i in str(gpu_ids).split(',') if i.strip()]
    if not ids or ids[0] < 0:
        return torch.device('cpu')
    if not torch.cuda.is_available():
        if announce and not _announced:
            print(f'note: no GPU found, running on the CPU (--gpu_ids {gpu_ids}; pass --gpu_ids -1 to choose the CPU)')
            _announced = True
        return torch.device('cpu')
    if 'LOCAL_RANK' in os.environ:
        return torch.device('cuda', int(os.environ['LOCAL_RANK']))
    return torch.device('cuda', ids[0])


def distributed_on_gpus(gpu_ids: str) -> bool:
    """Whether this process is one of several (torchrun) that compute on GPUs: then BatchNorm is synchronised."""
    return int(os.environ.get('WORLD_SIZE', '1')) > 1 and select_device(gpu_ids).type == 'cuda'


def configure_cpu_allocator(policy: str) -> bool:
    """'retain': glibc keeps freed memory in the process instead of unmapping every large block.

    The generator allocates and frees tensors of hundreds of MB (per-pixel kernels) in every block; by default
    glibc maps each with mmap and unmaps it on free, so every use pays page faults on fresh zeroed pages. Serving
    them from the heap is ~25% faster on CPU, at the cost of ~10% more peak RSS. Returns whether it was applied
    (only glibc has mallopt; elsewhere this does nothing). Process-wide and not undone.
    """
    if policy != 'retain':
        return False
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2 ** 31 - 1))
