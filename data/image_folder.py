"""Image files: listing them (natural order, optional files.list cache), opening one, naming it."""
import os
import re
from typing import List, Optional

from PIL import Image

from util.atomic import atomic_write_text
from util.errors import UserError
from util.user_files import open_image as open_user_image

from .errors import DatasetError

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.tif', '.tiff', '.webp')
CACHE_NAME = 'files.list'
CACHE_HEADER = '# cc-fpse files.list 2: paths relative to this folder'


def open_image(path: str, what: str, missing_hint: str = '', max_pixels: Optional[int] = None) -> Image.Image:
    """The image at `path`, fully read (util.user_files.open_image), or a DatasetError of one line naming it as
    `what` ('label map', ...)."""
    try:
        return open_user_image(path, what, max_pixels, missing_hint)
    except UserError as exc:
        raise DatasetError(str(exc)) from None


def stem(path: str) -> str:
    """The file name without folder and extension: what pairs files and names outputs."""
    return os.path.splitext(os.path.basename(path))[0]


def is_image_file(filename: str) -> bool:
    return filename.lower().endswith(IMG_EXTENSIONS)


def natural_keys(text: str) -> list:
    """Sort key that orders 'img2' before 'img10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', text)]


def natural_sort(items: List[str]) -> None:
    items.sort(key=natural_keys)


def walk_files(folder: str) -> List[str]:
    """Every file below `folder`, following links to folders but entering each real folder once: a link loop or a
    link back to a parent neither hangs nor lists a file twice."""
    seen = set()
    paths = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        info = os.stat(root)
        if (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs.sort()
        paths.extend(os.path.join(root, name) for name in sorted(files))
    return paths


def _cache_is_fresh(folder: str, cache: str, relative_paths: List[str]) -> bool:
    """A cache is stale once a folder it lists from changed after it was written (a file added, removed or
    renamed there)."""
    written = os.path.getmtime(cache)
    folders = {folder} | {os.path.join(folder, os.path.dirname(p)) for p in relative_paths}
    try:
        return all(os.path.getmtime(f) <= written for f in folders)
    except OSError:  # a listed folder is gone
        return False


def _read_cache(folder: str, cache: str) -> Optional[List[str]]:
    """The paths a fresh cache lists, below `folder`; None when there is no usable cache.

    The cache holds paths relative to its folder, so that a copied dataset reads its own files, never the
    original's; a cache of absolute paths (written before) or of paths leaving the folder is not used."""
    if not os.path.isfile(cache):
        return None
    try:
        with open(cache) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != CACHE_HEADER:
        return None
    relative = [line for line in lines[1:] if line]
    if any(os.path.isabs(p) or os.path.normpath(p).startswith('..') for p in relative):
        return None
    if not _cache_is_fresh(folder, cache, relative):
        return None
    return [os.path.join(folder, p) for p in relative]


def make_dataset(folder: str, read_cache: bool = False, write_cache: bool = False, what: str = 'images') -> List[str]:
    """Image files in `folder` and its subfolders, in a stable order."""
    if not os.path.isdir(folder):
        # `what` is the option naming the folder (custom datasets) or a part of a dataset below --dataroot.
        way_out = f'give an existing folder with {what}' if what.startswith('--') else 'check --dataroot and --phase'
        raise DatasetError(f'{what} folder {folder} does not exist: {way_out}')
    cache = os.path.join(folder, CACHE_NAME)
    cached = _read_cache(folder, cache) if read_cache or write_cache else None
    if read_cache and cached is not None:
        return cached
    paths = [path for path in walk_files(folder) if is_image_file(path)]
    if write_cache and cached is None:
        try:
            atomic_write_text(cache, '\n'.join([CACHE_HEADER, *(os.path.relpath(p, folder) for p in paths)]) + '\n')
            os.utime(cache)  # after the rename, which itself changed the folder
        except OSError as exc:
            print(f'warning: could not write the file-list cache {cache} ({exc.strerror})')
    return paths
