"""The one reader of each kind of file a user hands us: JSON (options, model specs, metrics, annotations), images,
and .npz statistics. Each reads regular files only (a named pipe, socket or device is refused before it is opened:
reading a pipe blocks for ever), checks the size before reading, and reports anything wrong as one line that names
the file and the way out (util.errors.UserError)."""
import contextlib
import json
import os
import stat
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
from PIL import Image

from util.errors import UserError, exception_reason
from util.util import pixel_limit_problem

# JSON files we read are a few kB (specs, options, metrics); COCO's annotation files are the large exception.
MAX_JSON_BYTES = 16 << 20
MAX_ANNOTATION_BYTES = 2 << 30


def check_regular_file(path: str, what: str, missing_hint: str = '') -> os.stat_result:
    """The file's stat, or one line when it is missing or not a regular file (without opening it)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserError(f'{what} {path} does not exist{missing_hint}') from None
    except OSError as exc:
        raise UserError(f'{what} {path} cannot be read ({exc.strerror})') from None
    if not stat.S_ISREG(info.st_mode):
        kind = 'a folder' if stat.S_ISDIR(info.st_mode) else 'a named pipe' if stat.S_ISFIFO(info.st_mode) else \
            'a socket' if stat.S_ISSOCK(info.st_mode) else 'a device'
        raise UserError(f'{what} {path} is {kind}, not a file: give a regular file')
    return info


def read_json(path: str, what: str, max_bytes: int = MAX_JSON_BYTES, expect: type = dict) -> Any:
    """The JSON value of a file: a regular file of at most `max_bytes`, valid JSON (however deeply nested: too
    deep is one line, not a crash), of type `expect`."""
    size = check_regular_file(path, what).st_size
    if size > max_bytes:
        raise UserError(f'{what} {path} is {size:,} bytes, far more than such a file holds ({max_bytes:,} at most): '
                        'restore it')
    try:
        with open(path, encoding='utf-8') as f:
            value = json.loads(f.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f'{what} {path} is not readable JSON ({exception_reason(exc, 80)}): restore it') from None
    except RecursionError:
        raise UserError(f'{what} {path} is JSON nested too deeply to read: restore it') from None
    except OSError as exc:
        raise UserError(f'{what} {path} cannot be read ({exc.strerror})') from None
    if not isinstance(value, expect):
        raise UserError(f'{what} {path} holds a JSON {type(value).__name__}, not the {expect.__name__} it should: '
                        'restore it')
    return value


def open_image(path: str, what: str, max_pixels: Optional[int] = None, missing_hint: str = '') -> Image.Image:
    """The image at `path`, fully read, or one line naming it as `what` ('label map', ...). With `max_pixels`, a
    larger image is refused from its header, before its pixels are decoded (a small PNG can hold gigabytes of
    pixels), and that reason is given whatever size it has (Pillow's own guard would call it broken)."""
    check_regular_file(path, what, missing_hint)
    try:
        if max_pixels is None:
            img = Image.open(path)
        else:  # our limit, below Pillow's, decides: its guard is lifted for the header only
            with pillow_guard_lifted():
                img = Image.open(path)
            too_large = pixel_limit_problem(f'{what} {path}', img.size, max_pixels)
            if too_large:
                raise UserError(too_large)
        img.load()
    except UserError:
        raise
    except Image.DecompressionBombError:
        raise UserError(f'{what} {path} has more pixels than Pillow decodes ({Image.MAX_IMAGE_PIXELS * 2:,}): '
                        'downscale it') from None
    except Exception as exc:
        raise unreadable_image(path, what, exc) from None
    return img


@contextlib.contextmanager
def pillow_guard_lifted() -> Iterator[None]:
    """Pillow's decompression-bomb guard off for a header read (nothing is decoded), and back on after."""
    guard, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = guard


def unreadable_image(path: str, what: str, exc: Exception) -> UserError:
    """The line for an image file that cannot be decoded."""
    kind = 'an empty file' if os.path.getsize(path) == 0 else 'truncated or not a readable image'
    return UserError(f'{what} {path} is {kind} ({type(exc).__name__}): replace or remove it')


def image_header_size(path: str, what: str) -> Tuple[int, int]:
    """(width, height) from the header alone (nothing decoded), or one line."""
    check_regular_file(path, what)
    try:
        with pillow_guard_lifted(), Image.open(path) as img:
            return img.size
    except Exception as exc:
        raise unreadable_image(path, what, exc) from None


def read_npz(path: str, what: str, arrays: Dict[str, int]) -> Dict[str, np.ndarray]:
    """The arrays of an .npz file, {name: number of dimensions}: numbers only (a file holding Python objects is
    refused, never unpickled), each named array present with its dimensions."""
    check_regular_file(path, what)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in arrays if name not in data.files]
            if missing:
                raise UserError(f'{what} {path} has no array {missing[0]} (it holds {", ".join(data.files) or "none"}):'
                                ' give the .npz that evaluate.py writes (mu, sigma)')
            values = {name: data[name] for name in arrays}
    except UserError:
        raise
    except ValueError as exc:
        reason = 'it holds Python objects, which are never loaded' if 'allow_pickle' in str(exc) else \
            exception_reason(exc, 80)
        raise UserError(f'{what} {path} is not an .npz of numbers ({reason}): give the .npz that evaluate.py '
                        'writes') from None
    except Exception as exc:
        raise UserError(f'{what} {path} is not a readable .npz ({exception_reason(exc, 80)}): replace it') from None
    for name, dims in arrays.items():
        if values[name].ndim != dims or values[name].dtype.kind not in 'fiu':
            raise UserError(f'{what} {path}: {name} is a {values[name].ndim}-d {values[name].dtype} array, not a '
                            f'{dims}-d array of numbers: give the .npz that evaluate.py writes')
    return values
