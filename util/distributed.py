"""Process-group set-up from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)."""
import os
from dataclasses import dataclass
from typing import List, Sequence

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, items: Sequence) -> list:
        """This process's share of `items`: item k goes to process k mod N (disjoint, none padded or repeated)."""
        return list(items)[self.rank::self.world_size]


def launched_rank() -> int:
    return int(os.environ.get('RANK', '0'))


def elastic_restart_count() -> int:
    """How many times torchrun has restarted this worker group (--max-restarts): 0 on the first start."""
    return int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0'))


def init_distributed(use_cuda: bool) -> DistInfo:
    """NCCL on GPUs, gloo on CPU; a single process needs no process group."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ['RANK']), world_size, int(os.environ.get('LOCAL_RANK', '0')))
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        backend = 'nccl' if use_cuda else 'gloo'
        restarts = elastic_restart_count()
        if restarts == 0:
            dist.init_process_group(backend)
        else:
            # After torchrun restarts a worker group, the rendezvous store still holds the lost group's addresses
            # under the default keys: this group's keys get a prefix of their own.
            agent_store = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True'
            store = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), world_size,
                                  is_master=info.rank == 0 and not agent_store)
            dist.init_process_group(backend, store=dist.PrefixStore(f'restart{restarts}', store),
                                    rank=info.rank, world_size=world_size)
    return info


def all_true(flag: bool, info: DistInfo) -> bool:
    """True only if `flag` is true on every process (so all stop together)."""
    if not info.enabled:
        return flag
    tensor = _on_backend_device(torch.tensor([1.0 if flag else 0.0]))
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return bool(tensor.item())


def _on_backend_device(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.cuda() if dist.get_backend() == 'nccl' else tensor


def sum_across(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The element-wise sum of `tensor` over all processes (the tensor itself in one process)."""
    if not info.enabled:
        return tensor
    total = _on_backend_device(tensor.clone())
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.to(tensor.device)


def gather_rows(rows: torch.Tensor, info: DistInfo) -> List[torch.Tensor]:
    """Every process's (n_rank, ...) tensor, in rank order, on every process; the counts may differ."""
    if not info.enabled:
        return [rows]
    counts = [_on_backend_device(torch.zeros(1, dtype=torch.int64)) for _ in range(info.world_size)]
    dist.all_gather(counts, _on_backend_device(torch.tensor([rows.shape[0]])))
    longest = max(int(c.item()) for c in counts)
    padded = _on_backend_device(torch.zeros((longest, *rows.shape[1:]), dtype=rows.dtype))
    padded[:rows.shape[0]] = rows
    gathered = [torch.empty_like(padded) for _ in range(info.world_size)]
    dist.all_gather(gathered, padded)
    return [g[:int(c.item())].cpu() for g, c in zip(gathered, counts)]


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()

