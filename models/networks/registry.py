"""Networks by name: each generator, discriminator and encoder registers itself beside its class, with the options
only it takes and the parameter names only it has (which tell a checkpoint of another network).

A new generator is one file with its class and one decorator, plus the line in models/networks/__init__.py that
imports the file:

    @register('generator', 'toy', checkpoint_keys=r'^toy_')
    class ToyGenerator(BaseNetwork):
        def __init__(self, semantic_nc: int, ngf: int = 64, crop_size: int = 256, aspect_ratio: float = 1.0): ...

after which `--netG toy` trains, saves, resumes and synthesizes it like the others.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, Type

KINDS = {'generator': '--netG', 'discriminator': '--netD', 'encoder': None}  # kind: the option that chooses it


@dataclass
class Registered:
    kind: str
    name: str
    cls: type
    add_options: Optional[Callable] = None  # (parser, is_train): declares the options only this network takes
    checkpoint_keys: Optional[str] = None   # a pattern of parameter names only this network has


REGISTRY: Dict[str, Dict[str, Registered]] = {kind: {} for kind in KINDS}


def register(kind: str, name: str, add_options: Optional[Callable] = None,
             checkpoint_keys: Optional[str] = None) -> Callable[[type], type]:
    """Class decorator: the network `name` of `kind` ('generator', 'discriminator', 'encoder')."""
    if kind not in KINDS:
        raise ValueError(f'kind {kind!r} is not one of {", ".join(KINDS)}')

    def decorate(cls: type) -> type:
        REGISTRY[kind][name] = Registered(kind, name, cls, add_options, checkpoint_keys)
        return cls
    return decorate


def names(kind: str) -> List[str]:
    return sorted(REGISTRY[kind])


def entry(kind: str, name: str) -> Registered:
    return REGISTRY[kind][name]


def entry_of_class(class_name: str) -> Optional[Registered]:
    """The registration of a class by its name (as networks.json records it), or None."""
    return next((e for table in REGISTRY.values() for e in table.values() if e.cls.__name__ == class_name), None)


def checkpoint_hints(cls: Type) -> List[Tuple[str, str]]:
    """(pattern, hint) for a mismatch report: parameter names that only another network of the same kind has say
    that the checkpoint is of that network."""
    own = entry_of_class(cls.__name__)
    if own is None or KINDS[own.kind] is None:
        return []
    others = [e for e in REGISTRY[own.kind].values() if e.cls is not cls and e.checkpoint_keys]
    return [(e.checkpoint_keys, f'{KINDS[own.kind]} (the checkpoint looks like one of {KINDS[own.kind]} {e.name})')
            for e in others]
