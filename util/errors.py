"""One exception type for mistakes a user can fix, and the command-line wrapper that reports them."""
import errno
import os
import sys
from typing import Callable, Optional

from util.threads import share_cpus


class UserError(Exception):
    """Bad input or configuration: reported as one line, never as a traceback."""


class Stopped(UserError):
    """A deliberate stop (Ctrl-C, SIGTERM) that saved what it had: one line without 'error:', exit status 1 (the
    job did not finish)."""


# Control characters a user's text (a file name, an id) may bring into a message, shown escaped: the message stays
# one line and says what was typed.
_ESCAPED = {code: repr(chr(code))[1:-1] for code in [*range(32), 127]}


def one_line(exc: BaseException) -> str:
    """The exception's message as the one line a command prints."""
    message = str(exc).strip()
    # DataLoader workers re-raise with the worker traceback prepended; the cause is the last line.
    if 'Original Traceback' in message:
        message = message.splitlines()[-1].split(': ', 1)[-1]
    return message.translate(_ESCAPED) if message else type(exc).__name__


def exception_reason(exc: BaseException, limit: int = 160) -> str:
    """A library's exception in a few words, to put inside one of our lines: its type and its first sentence."""
    first_line = one_line(exc).split(_ESCAPED[ord('\n')])[0]  # a library's message may go on for lines
    return f'{type(exc).__name__}: {first_line.split(". ")[0][:limit]}'


# What the machine, not the code, refused: a full disk, a quota, a read-only or unwritable folder, a failing disk.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def environment_error(exc: BaseException) -> Optional[OSError]:
    """The OSError of ENVIRONMENT_ERRNOS behind `exc` (itself, or what it was raised from), if any: torch's writer,
    for one, reports a full disk as a RuntimeError raised while handling it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def run_cli(main: Callable[[], None]) -> None:
    """Run a script's main(); a UserError, or a full disk or unwritable file, becomes `error: <message>` on stderr
    and exit status 1. Files are written atomically, so nothing is left half-written either way."""
    share_cpus()
    try:
        main()
    except UserError as exc:
        print(f'{"" if isinstance(exc, Stopped) else "error: "}{one_line(exc)}', file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        cause = environment_error(exc)
        if cause is None:
            raise
        where = f' ({cause.filename})' if cause.filename else ''
        print(f'error: {cause.strerror or os.strerror(cause.errno)}{where}: free space or choose a folder you can '
              'write to; the files written before are whole', file=sys.stderr)
        sys.exit(1)
