"""The segmenters' published weight files: where they come from, finding them, and a strict load that names what
does not match."""
import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn as nn

from util.checkpoint import layout_differences, load_state_dict_file
from util.errors import UserError


@dataclass(frozen=True)
class WeightFile:
    filename: str
    module: str  # the sub-module the file is the state_dict of ('' = the whole segmenter)
    url: str  # '' when the publisher gives no direct link
    page: str = ''  # where a person downloads it by hand, when there is no direct link
    # Buffers the publisher's layers carry that ours need not (CSAIL's synchronised batch norm): dropped before the
    # strict load, so every other difference is still caught.
    ignored_suffixes: Tuple[str, ...] = ()

    def source(self) -> str:
        return self.url or self.page


def hub_cache_path(filename: str) -> str:
    return os.path.join(torch.hub.get_dir(), 'checkpoints', filename)


def _download(file: WeightFile, option: str) -> str:
    """The file in the torch hub cache, downloaded once; one line naming the way out when that cannot be done."""
    cached = hub_cache_path(file.filename)
    if os.path.isfile(cached):
        return cached
    way_out = (f'download {file.filename} from {file.source()} and pass {option} PATH (or put it in '
               f'{os.path.dirname(cached)})')
    if not file.url:
        raise UserError(f'{file.filename} is not in the torch hub cache and has no direct download link: {way_out}')
    try:
        torch.hub.download_url_to_file(file.url, cached, progress=True)
    except Exception as exc:  # no network, HTTP error, interrupted: download_url_to_file leaves no partial file
        raise UserError(f'could not download {file.url} ({type(exc).__name__}): {way_out}') from None
    return cached


def locate(files: Tuple[WeightFile, ...], weights: Optional[str], option: str = '--segmenter_weights') -> List[str]:
    """The path of every file: `weights` is the file itself (one-file networks) or a folder holding them; None
    means the torch hub cache, downloading what is missing."""
    if weights is None:
        return [_download(file, option) for file in files]
    if os.path.isdir(weights):
        paths = [os.path.join(weights, file.filename) for file in files]
        missing = [os.path.basename(p) for p in paths if not os.path.isfile(p)]
        if missing:
            raise UserError(f'{option} {weights} holds no {", ".join(missing)}: pass the folder with '
                            f'{" and ".join(f.filename for f in files)}')
        return paths
    if not os.path.isfile(weights):
        raise UserError(f'{option} {weights}: no such file or folder')
    if len(files) > 1:
        raise UserError(f'{option} {weights} is a file, but this segmenter has {len(files)}: pass the folder that '
                        f'holds '
                        f'{" and ".join(f.filename for f in files)}')
    return [weights]


def load_weights(net: nn.Module, files: Tuple[WeightFile, ...], weights: Optional[str], name: str) -> List[str]:
    """Load each file strictly into its sub-module of `net`; returns the paths used."""
    paths = locate(files, weights)
    for file, path in zip(files, paths):
        module = net.get_submodule(file.module) if file.module else net
        state = load_state_dict_file(path)
        if file.ignored_suffixes:
            state = {k: v for k, v in state.items() if not k.endswith(file.ignored_suffixes)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError:
            summary = layout_differences(module, state)[0] or 'tensors differ'
            raise UserError(f'{path} is not {file.filename} of {name} ({summary}): pass the published file') from None
    return paths

