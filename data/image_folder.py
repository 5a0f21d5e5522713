"""Image files: listing them (natural order, optional files.list cache), opening one, naming it."""
import os
import re
from typing import List

from PIL import Image

from .errors import DatasetError

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.tif', '.tiff', '.webp')
CACHE_NAME = 'files.list'


def open_image(path: str, what: str, missing_hint: str = '') -> Image.Image:
    """The image at `path`, fully read, or a DatasetError of one line naming it as `what` ('label map', ...)."""
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise DatasetError(f'{what} {path} does not exist{missing_hint}') from None
    except Exception as exc:
        raise DatasetError(f'{what} {path} is truncated or not a readable image ({type(exc).__name__}): '
                           'replace or remove it') from None
    return img


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


def make_dataset(folder: str, read_cache: bool = False, write_cache: bool = False, what: str = 'images') -> List[str]:
    """Image files in `folder` and its subfolders, in a stable order."""
    if not os.path.isdir(folder):
        raise DatasetError(f'{what} folder {folder} does not exist: check --dataroot and --phase')
    cache = os.path.join(folder, CACHE_NAME)
    # A cache older than the folder's last change (a file added, removed or renamed) is stale.
    cache_fresh = os.path.isfile(cache) and os.path.getmtime(cache) >= os.path.getmtime(folder)
    if read_cache and cache_fresh:
        with open(cache) as f:
            return [line for line in f.read().splitlines() if line]
    paths = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        paths.extend(os.path.join(root, name) for name in sorted(files) if is_image_file(name))
    if write_cache and not cache_fresh:
        try:
            with open(cache, 'w') as f:
                f.writelines(f'{path}\n' for path in paths)
        except OSError as exc:
            print(f'warning: could not write the file-list cache {cache} ({exc.strerror})')
    return paths
