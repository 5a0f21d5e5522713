"""Files written whole or not at all: a temporary file beside the target, flushed to disk, then renamed (also
groups of files, and whole folders). Checkpoints, pages, images, manifests and model folders are written so."""
import contextlib
import os
import shutil
import tempfile
from typing import IO, Any, Callable, Dict, Iterator, Tuple

import torch

from util.errors import UserError

TEMPORARY_PREFIX, TEMPORARY_SUFFIX = '.partial_', '.tmp'  # no tool takes such a file for a checkpoint


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back: there is no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temporary_beside(path: str) -> Tuple[int, str]:
    """(file descriptor, name) of a new temporary file in `path`'s folder, named as stale ones are removed, with
    the permissions an ordinary new file gets (mkstemp's are 0600 whatever the umask)."""
    fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX, dir=os.path.dirname(path) or '.')
    os.fchmod(fd, 0o666 & ~current_umask())
    return fd, tmp


def fsync_folder(folder: str) -> None:
    """Make a rename in `folder` durable (where the system can open a folder for it)."""
    try:
        fd = os.open(folder or '.', os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'wb') -> Iterator[IO]:
    """A file that becomes `path` when the block ends without error: readers see the old file or the whole new
    one, also after a power cut (the data is on disk before the rename, the rename after it); on an error the
    temporary file is removed."""
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_folder(os.path.dirname(path))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_folder(out: str, overwrite: bool = False, option: str = '--out') -> Iterator[str]:
    """A folder written whole or not at all: the caller writes into the yielded temporary folder beside `out`,
    which replaces `out` at the end (an existing non-empty `out` only with `overwrite`)."""
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)) and not overwrite:
        raise UserError(f'{option} {out} already exists: choose another folder, or add --overwrite to replace it')
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=parent)
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it private; the result is as any other folder
    try:
        yield staging
        if os.path.exists(out):
            replaced = tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=parent)
            os.replace(out, os.path.join(replaced, 'old'))
            os.replace(staging, out)
            shutil.rmtree(replaced)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write_group(files: Dict[str, Any], write: Callable[[IO, Any], None], mode: str = 'wb') -> None:
    """`write(file, content)` every {path: content} to a temporary file first, then rename them all.

    A crash, kill or full disk while writing leaves every earlier file whole (a page never disagrees with the
    numbers beside it); the renames at the end take microseconds. A kill can leave a temporary file, named so that
    nothing reads it as a checkpoint (see remove_stale_temporaries).
    """
    # Every file stays open (and unrenamed) until all are written: the stack renames them on leaving.
    with contextlib.ExitStack() as stack:
        for path, content in files.items():
            write(stack.enter_context(atomic_open(path, mode)), content)


def atomic_save_group(files: Dict[str, Any]) -> None:
    """torch.save every {path: object}, as one atomic group."""
    atomic_write_group(files, lambda f, obj: torch.save(obj, f))


def atomic_write_texts(texts: Dict[str, str]) -> None:
    """Write every {path: text}, as one atomic group."""
    atomic_write_group(texts, lambda f, text: f.write(text), 'w')


def atomic_write_text(path: str, text: str) -> None:
    with atomic_open(path, 'w') as f:
        f.write(text)


def check_writable_folder(folder: str, option: str) -> None:
    """Create `folder` if needed and write a file in it, or stop with one line naming `option`."""
    try:
        os.makedirs(folder, exist_ok=True)
        # A probe of this process's own: processes of one torchrun job check the same folder at the same time.
        descriptor, probe = tempfile.mkstemp(prefix='.write_test', dir=folder)
        os.close(descriptor)
        os.remove(probe)
    except OSError as exc:
        raise UserError(f'cannot write to {folder} ({exc.strerror}): choose another {option}') from None
