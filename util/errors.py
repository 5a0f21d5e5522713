"""One exception type for mistakes a user can fix, and the command-line wrapper that reports them."""
import sys
from typing import Callable


class UserError(Exception):
    """Bad input or configuration: reported as one line, never as a traceback."""


def _one_line(exc: BaseException) -> str:
    message = str(exc).strip()
    # DataLoader workers re-raise with the worker traceback prepended; the cause is the last line.
    if 'Original Traceback' in message:
        message = message.splitlines()[-1].split(': ', 1)[-1]
    return message.splitlines()[0] if message else type(exc).__name__


def run_cli(main: Callable[[], None]) -> None:
    """Run a script's main(); a UserError becomes `error: <message>` on stderr and exit status 1."""
    try:
        main()
    except UserError as exc:
        print(f'error: {_one_line(exc)}', file=sys.stderr)
        sys.exit(1)
