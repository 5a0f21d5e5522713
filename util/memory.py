"""Activation memory: the bytes autograd keeps for backward, counted the same way on CPU and GPU."""
from typing import Callable, Iterable, Tuple, TypeVar

import torch

T = TypeVar('T')


def saved_tensor_bytes(forward: Callable[[], T], exclude: Iterable[torch.Tensor] = ()) -> Tuple[T, int]:
    """Run `forward` and count the distinct storages autograd saves for backward, leaving out those of `exclude`
    (the parameters: they exist whether or not anything is saved). Views of one storage count once; the count
    does not depend on the allocator, which is why it compares CPU and GPU runs and implementations."""
    excluded = {t.untyped_storage().data_ptr() for t in exclude}
    storages = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[(storage.device, storage.data_ptr())] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = forward()
    return result, sum(storages.values())
