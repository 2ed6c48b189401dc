"""The CLI's answer to the runner's ``ConfirmRequest`` (``cockpit run``, ``cockpit runbook
run``): ``--yes``; else, on a terminal, the exact command and a question (caution: y/N,
No the default; dangerous: type the id); else No, with a line saying to use ``--yes``.

The policy decides what is asked (``cockpit.core.actions.policy``), the same question as
the TUI's. The prompt goes to stderr (stdout stays the action's output, or JSON), and
Ctrl-C or end of input at the prompt is a No.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from cockpit.cli.output import paint
from cockpit.core.boundary import Boundary

if TYPE_CHECKING:
    from cockpit.core.actions.runner import ConfirmRequest

_STYLE = {"caution": "warn", "dangerous": "crit"}

#: Reads the operator's answer to a prompt; None for no answer (EOF, Ctrl-C).
Reader = Callable[[str], "str | None"]


def read_answer(prompt: str) -> str | None:
    """The line typed after ``prompt`` (shown on stderr). Ctrl-C interrupts it even while an
    event loop's SIGINT handler is installed (which would only note the signal)."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        # Before the prompt is shown: a Ctrl-C typed as soon as it appears must not reach
        # the event loop's handler, which cannot run while input() blocks the loop.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        print(prompt, end="", file=sys.stderr, flush=True)
        return input()
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def confirm_on_terminal(
    request: ConfirmRequest,
    *,
    yes: bool,
    name: str | None = None,
    where: str = "",
    interactive: bool | None = None,
    read: Reader = read_answer,
) -> bool:
    """Whether to run: ``yes`` (``--yes``), else the operator's answer on a terminal.

    ``name``: what is confirmed (a runbook step id; default the action id); ``where``:
    the profile and backend it runs on; ``interactive``: whether there is a terminal to
    ask on (default: stdin is a tty).
    """
    prepared = request.prepared
    level = prepared.action.danger
    name = name or prepared.action.id
    out = Boundary(prepared.redactor)
    if yes:  # confirmed beforehand: still say what was confirmed (stderr, like a prompt)
        runs = "it does the equivalent of" if prepared.spec.operation is not None else \
            "it runs"
        print(out.line(f"{name} is {level}, confirmed by --yes; {runs}:"), file=sys.stderr)
        stream = out.stream()
        for line in request.command.rstrip("\n").split("\n"):
            print(f"    {stream.line(line)}", file=sys.stderr)
        return True
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        print(out.line(f"{name} is {level}: not confirmed (no terminal to ask on); use --yes "
                       "to run it without a prompt"), file=sys.stderr)
        return False
    style = _STYLE.get(level, "crit")
    for line in request.context:  # what the backend tells first (a rollout history)
        print(f"  {out.line(line)}", file=sys.stderr)
    print(paint(out.line(f"{name} is {level.upper()}. It will run:"), style, sys.stderr),
          file=sys.stderr)
    for reason in request.reasons:
        print(f"    {out.line(reason)}", file=sys.stderr)
    stream = out.stream()  # the command as one text: a secret over several lines stays hidden
    for line in request.command.rstrip("\n").split("\n"):
        print(f"    {stream.line(line)}", file=sys.stderr)
    trace = f"trace id {prepared.trace_id}"
    print(out.line(f"  on {where}; {trace}" if where else f"  {trace}"), file=sys.stderr)
    if request.needed == "type":
        expected = request.text_to_type or prepared.action.id
        answer = read(out.line(f"Type {expected} to run it (anything else cancels): "))
        return answer is not None and answer.strip() == expected
    answer = read("Run it? [y/N] ")
    return answer is not None and answer.strip().lower() in {"y", "yes"}
