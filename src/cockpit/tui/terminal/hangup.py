"""Whether the terminal is still there (no Textual import: the launcher uses it too)."""

from __future__ import annotations

import errno
import sys
import termios

HANGUP_EXIT_CODE = 129  #: 128 + SIGHUP, as a shell reports a hung-up job


def terminal_alive(fileno: int | None = None) -> bool:
    """False once the terminal hung up (EIO); True for a live one, or for no terminal."""
    try:
        termios.tcgetattr(sys.__stdin__.fileno() if fileno is None else fileno)
    except termios.error as error:
        return error.args[0] != errno.EIO
    except (OSError, ValueError, AttributeError):
        return True
    return True
