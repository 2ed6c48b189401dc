"""Hand the real terminal to a command (an interactive shell) and take it back.

The app is suspended (Textual leaves the alternate screen and restores the terminal's
modes), the command runs on the cockpit's own stdin, stdout and stderr until it ends,
then the app resumes and repaints everything (the frame encoder starts from a blank
model). Ctrl-C typed meanwhile is the command's: the cockpit, in the same foreground
process group, lets it pass instead of being interrupted (a Python handler, not
``SIG_IGN``, so the command does not inherit an ignored SIGINT).
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def _let_pass(signum: int, frame: Any) -> None:
    """SIGINT while a command has the terminal: it is the command's, not ours."""


def hand_terminal(app: Any, argv: list[str]) -> int:
    """Run ``argv`` on the real terminal with the app suspended; its exit status
    (negative: the signal that ended it). Raises ``SuspendNotSupported`` where the app
    cannot be suspended (headless, web) and ``OSError`` when the command cannot start."""
    with app.suspend():
        previous = signal.signal(signal.SIGINT, _let_pass)
        try:
            return subprocess.run(argv, check=False).returncode
        finally:
            signal.signal(signal.SIGINT, previous)
