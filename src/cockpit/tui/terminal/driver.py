"""Textual's terminal driver with the frame encoder in front of its writer thread."""

from __future__ import annotations

import os

from textual.driver import Driver

from cockpit.tui.terminal.encoder import FrameEncoder

#: set to 0 to send Textual's frames as they are (a terminal that misdraws them)
ENV_SWITCH = "COCKPIT_COMPACT_OUTPUT"


def compact_output_wanted(setting: bool) -> bool:
    """The user setting, unless ``COCKPIT_COMPACT_OUTPUT`` says otherwise."""
    value = os.environ.get(ENV_SWITCH)
    if value is None or value == "":
        return setting
    return value.strip().lower() not in ("0", "false", "no", "off")


def with_compact_output(driver_class: type[Driver]) -> type[Driver]:
    """A subclass of ``driver_class`` whose frames go through a ``FrameEncoder``.

    Only drivers that own a full-screen terminal (Textual's Linux driver) are wrapped;
    anything else (headless, inline, web, a ``TEXTUAL_DRIVER`` of the user's) is returned
    as it is.
    """
    from textual.drivers.linux_driver import LinuxDriver

    if driver_class is not LinuxDriver:
        return driver_class

    class CompactOutputDriver(driver_class):  # type: ignore[valid-type, misc]
        """Writes only what changed on screen (see ``cockpit.tui.terminal.encoder``)."""

        encoder: FrameEncoder | None = None

        def start_application_mode(self) -> None:
            self.encoder = FrameEncoder(*self._get_terminal_size())
            super().start_application_mode()

        def write(self, data: str) -> None:
            encoder = self.encoder
            if encoder is not None:
                size = self._get_terminal_size()
                if size != (encoder.width, encoder.height):
                    encoder.forget(*size)
                data = encoder.encode(data)
            super().write(data)

        def stop_application_mode(self) -> None:
            self.encoder = None
            super().stop_application_mode()

    return CompactOutputDriver
