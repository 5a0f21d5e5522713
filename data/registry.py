"""Datasets register by name (`--dataset_mode`) beside their class: `@register_dataset('name')`."""
from typing import Callable, Dict

DATASETS: Dict[str, type] = {}  # --dataset_mode -> dataset class, in the order the modules register them


def register_dataset(name: str) -> Callable[[type], type]:
    def register(cls: type) -> type:
        if name in DATASETS:
            raise ValueError(f'dataset {name!r} is registered twice ({DATASETS[name].__name__}, {cls.__name__})')
        DATASETS[name] = cls
        return cls
    return register
