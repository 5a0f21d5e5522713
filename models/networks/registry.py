"""Networks by name: each generator, discriminator and encoder registers itself beside its class, with the options
only it takes and the parameter names only it has (which tell a checkpoint of another network).

A new generator is one file with its class and one decorator, imported by models/networks/__init__.py (a shared
network) or by a method's folder (models/methods/<name>/__init__.py, a network of that method):

    @register('generator', 'toy', checkpoint_keys=r'^toy_')
    class ToyGenerator(BaseNetwork):
        def __init__(self, semantic_nc: int, ngf: int = 64, crop_size: int = 256, aspect_ratio: float = 1.0): ...

after which `--netG toy` trains, saves, resumes and synthesizes it like the others.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, Type


@dataclass(frozen=True)
class Kind:
    label: str              # a model's network of this kind in the checkpoint files: <epoch>_net_<label>.pth
    option: Optional[str]   # the option that chooses it (None: the kind has one network)


# The one table of the networks of a model; everything that names them (the spec, the options) derives from it.
KINDS = {'generator': Kind('G', '--netG'), 'discriminator': Kind('D', '--netD'), 'encoder': Kind('E', None)}
LABELS = tuple(kind.label for kind in KINDS.values())
KIND_OF_LABEL = {kind.label: name for name, kind in KINDS.items()}


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
    """The network registered as `name`; any other value (a saved opt.json can hold anything) is a KeyError that
    names the option and its choices."""
    if not isinstance(name, str) or name not in REGISTRY[kind]:
        raise KeyError(f'{KINDS[kind].option or kind} {name!r}: not one of {", ".join(names(kind))}')
    return REGISTRY[kind][name]


def entry_of_class(class_name: str) -> Optional[Registered]:
    """The registration of a class by its name (as networks.json records it), or None."""
    return next((e for table in REGISTRY.values() for e in table.values() if e.cls.__name__ == class_name), None)


def checkpoint_hints(cls: Type) -> List[Tuple[str, str]]:
    """(pattern, hint) for a mismatch report: parameter names that only another network of the same kind has say
    that the checkpoint is of that network."""
    own = entry_of_class(cls.__name__)
    option = None if own is None else KINDS[own.kind].option
    if option is None:
        return []
    others = [e for e in REGISTRY[own.kind].values() if e.cls is not cls and e.checkpoint_keys]
    return [(e.checkpoint_keys, f'{option} (the checkpoint looks like one of {option} {e.name})') for e in others]
