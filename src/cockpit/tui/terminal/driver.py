"""Textual's terminal driver, as the cockpit runs it.

- The frame encoder in front of the writer thread (compact output, on by default).
- When the terminal goes away (an SSH link dropped, a tmux session killed) the cockpit
  exits as on ``q``, stopping the demo it started and recording it. SIGHUP is handled
  instead of killing the process on the spot; and when no SIGHUP comes (a parent such
  as ``make`` took it), a watch on the terminal notices, where Textual's input thread
  would spin on end-of-file at a third of a core, forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading

from textual.driver import Driver

from cockpit.tui.terminal.encoder import FrameEncoder
from cockpit.tui.terminal.hangup import HANGUP_EXIT_CODE, terminal_alive

#: set to 0 to send Textual's frames as they are (a terminal that misdraws them)
ENV_SWITCH = "COCKPIT_COMPACT_OUTPUT"
HANGUP_POLL = 1.0  #: seconds between checks that the terminal is still there


def terminal_erases(term: str | None, fd: int = -1) -> bool:
    """Whether terminfo says the terminal erases in the current background (``bce``)
    and has ECH: then the encoder erases runs of blanks rather than sending them."""
    if not term:
        return False
    try:
        import curses

        curses.setupterm(term, fd)
        return curses.tigetflag("bce") == 1 and bool(curses.tigetstr("ech"))
    except Exception:  # no curses, no terminfo entry: send the blanks
        return False


_erases: dict[str, bool] = {}  #: terminfo's answer per TERM, asked once


def compact_output_wanted(setting: bool) -> bool:
    """The user setting, unless ``COCKPIT_COMPACT_OUTPUT`` says otherwise."""
    value = os.environ.get(ENV_SWITCH)
    if value is None or value == "":
        return setting
    return value.strip().lower() not in ("0", "false", "no", "off")


def cockpit_driver(driver_class: type[Driver], *, compact: bool) -> type[Driver]:
    """A subclass of ``driver_class`` with the hang-up watch, and the encoder if ``compact``.

    Only Textual's Linux driver (a full-screen terminal) is wrapped; anything else
    (headless, inline, web, a ``TEXTUAL_DRIVER`` of the user's) is returned as it is.
    """
    from textual.drivers.linux_driver import LinuxDriver

    if driver_class is not LinuxDriver:
        return driver_class

    class CockpitDriver(driver_class):  # type: ignore[valid-type, misc]
        """Writes only what changed on screen; exits when the terminal is gone."""

        encoder: FrameEncoder | None = None
        _watch_stop: threading.Event | None = None
        _loop: asyncio.AbstractEventLoop | None = None
        hung_up = False  #: the terminal is gone: writes are dropped, never waited on
        _exiting = False

        def start_application_mode(self) -> None:
            if compact:
                self.encoder = encoder = FrameEncoder(*self._get_terminal_size())
                term = os.environ.get("TERM", "")
                if term in _erases:
                    encoder.erase = _erases[term]
                else:  # terminfo (and curses) off the start-up path
                    threading.Thread(target=self._ask_terminfo, args=(encoder, term),
                                     name="cockpit-terminfo", daemon=True).start()
            super().start_application_mode()
            self._watch_stop = threading.Event()
            threading.Thread(target=self._watch_terminal, args=(self._watch_stop,),
                             name="cockpit-terminal-watch", daemon=True).start()
            try:
                self._loop = asyncio.get_running_loop()
                self._loop.add_signal_handler(signal.SIGHUP, self._hung_up)
            except (RuntimeError, NotImplementedError, ValueError):
                self._loop = None  # not in the main thread's loop: default SIGHUP

        def _ask_terminfo(self, encoder: FrameEncoder, term: str) -> None:
            erases = _erases[term] = terminal_erases(term, self.fileno)
            encoder.erase = erases  # a flag read at each frame: takes effect at the next

        def write(self, data: str) -> None:
            writer = self._writer_thread
            if self.hung_up or (writer is not None and not writer.is_alive()):
                # Nothing can be shown; and the writer thread, killed by EIO, would never
                # empty its bounded queue: a write would block the app for good.
                return
            encoder = self.encoder
            if encoder is not None:
                size = self._get_terminal_size()
                if size != (encoder.width, encoder.height):
                    encoder.forget(*size)
                data = encoder.encode(data)
            super().write(data)

        def close(self) -> None:
            writer = self._writer_thread
            if writer is not None and (self.hung_up or not writer.is_alive()):
                return  # Textual would queue a stop for a writer that is gone, and wait
            super().close()

        def stop_application_mode(self) -> None:
            if self._watch_stop is not None:
                self._watch_stop.set()
            if self._loop is not None:
                self._loop.remove_signal_handler(signal.SIGHUP)
                self._loop = None
            if self.hung_up:
                # More SIGHUPs follow a hang-up (the shell's, the kernel's to an orphaned
                # process group): they must not cut the clean-up short, nor kill the
                # processes it starts (``stop`` of the demo), which inherit this.
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
            self.encoder = None
            super().stop_application_mode()

        def _run_input_thread(self) -> None:
            """Textual's, except that a terminal gone (EIO) is a hang-up, not a crash."""
            try:
                self.run_input_thread()
            except BaseException as error:
                if isinstance(error, OSError) and not self._terminal_alive():
                    self._gone()
                    return
                import rich.traceback

                self._app.call_later(self._app.panic, rich.traceback.Traceback())

        def _terminal_alive(self) -> bool:
            return terminal_alive(self.fileno)

        def _watch_terminal(self, stop: threading.Event) -> None:
            while not stop.wait(HANGUP_POLL):
                if not self._terminal_alive():  # EIO: the terminal hung up
                    self._gone()
                    return

        def _gone(self) -> None:
            """From a thread: the terminal is gone; the app quits on its own loop."""
            self.hung_up = True
            with contextlib.suppress(Exception):  # the app may be on its way out already
                self._app.call_from_thread(self._hung_up)

        def _hung_up(self) -> None:
            """The terminal is gone: quit, cleaning up as ``q`` does (on the app's loop).

            A SIGHUP with the terminal still there (``kill -HUP``) quits the same way but
            still restores the terminal.
            """
            self.hung_up = self.hung_up or not self._terminal_alive()
            if not self._exiting:
                self._exiting = True
                self._app.exit(None, HANGUP_EXIT_CODE,
                               "cockpit: hung up (SIGHUP, or the terminal went away)")

    return CockpitDriver
