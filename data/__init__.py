"""Datasets found by name (`--dataset_mode`), and the DataLoader that serves them."""
from typing import Callable, Dict, List, Optional

import torch.distributed as dist
import torch.utils.data

from .base_dataset import BaseDataset
from .errors import DatasetError
from .registry import DATASETS
# The built-in datasets register themselves when imported (data.registry), in this order (--dataset_mode's choices).
from . import (coco_dataset, ade20k_dataset, cityscapes_dataset, celebamask_hq_dataset, custom_dataset,  # noqa: F401
               synthetic_dataset)
from .settings import DataSettings


def dataset_names() -> List[str]:
    return list(DATASETS)


def find_dataset_using_name(name: str) -> type:
    return DATASETS[name]


def get_option_setter(name: str) -> Callable:
    return find_dataset_using_name(name).modify_commandline_options


class ResumableSampler(torch.utils.data.distributed.DistributedSampler):
    """DistributedSampler that can start its next pass at `start_index` (to continue an epoch mid-way)."""
    start_index = 0

    def __iter__(self):
        indices = list(super().__iter__())[self.start_index:]
        self.start_index = 0
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples - self.start_index


def input_folders(settings: DataSettings) -> Dict[str, List[str]]:
    """{option: folders} the dataset of `settings` reads (util.paths keeps outputs apart from them)."""
    return find_dataset_using_name(settings.dataset_mode).input_folders(settings)


def create_dataset(settings: DataSettings) -> BaseDataset:
    dataset = find_dataset_using_name(settings.dataset_mode)()
    dataset.initialize(settings)
    return dataset


def create_dataloader(settings: DataSettings, world_size: Optional[int] = None,
                      rank: Optional[int] = None) -> torch.utils.data.DataLoader:
    """Training: each process gets its own shard (DistributedSampler), shuffled by (--seed, epoch) unless
    --serial_batches, last incomplete batch dropped. Testing: every sample once, in order."""
    dataset = create_dataset(settings)
    if settings.isTrain:
        if world_size is None:
            distributed = dist.is_available() and dist.is_initialized()
            world_size = dist.get_world_size() if distributed else 1
            rank = dist.get_rank() if distributed else 0
        per_process = len(dataset) // world_size
        if per_process < settings.batchSize:
            processes = f' for each of {world_size} processes' if world_size > 1 else ''
            raise DatasetError(f'the dataset has {len(dataset)} items ({per_process}{processes}), fewer than '
                               f'--batchSize '
                               f'{settings.batchSize}: training would run no iteration; use --batchSize '
                               f'{max(1, per_process)} '
                               'or more data')
        sampler = ResumableSampler(
            dataset, num_replicas=world_size, rank=rank or 0, shuffle=not settings.serial_batches, seed=settings.seed)
        return torch.utils.data.DataLoader(dataset, batch_size=settings.batchSize, sampler=sampler,
                                           num_workers=int(settings.nThreads), drop_last=True)
    return torch.utils.data.DataLoader(dataset, batch_size=settings.batchSize, shuffle=False,
                                       num_workers=int(settings.nThreads), drop_last=False)
