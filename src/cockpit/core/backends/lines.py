"""Split a byte stream into text lines with bounded memory (used by the local backend).

Bytes are decoded as UTF-8 with ``errors="replace"`` one whole line at a time, so a
character split across two reads is decoded correctly. A line longer than
``MAX_LINE_CHARS`` is delivered cut (``truncated=True``) as soon as enough bytes have
arrived; the rest of it, up to the next newline, is skipped without being buffered.
"""

from __future__ import annotations

from cockpit.core.backends.base import MAX_LINE_CHARS


class LineSplitter:
    """Feed chunks, get ``(text, truncated)`` pairs; at most ``4 * max_chars`` bytes held."""

    def __init__(self, max_chars: int = MAX_LINE_CHARS) -> None:
        self._max_chars = max_chars
        self._max_bytes = max_chars * 4  # enough bytes for max_chars of any UTF-8 text
        self._buf = bytearray()
        self._skipping = False  # the current line was already delivered cut

    def skip_partial(self) -> None:
        """Discard everything up to the next newline (for reads starting mid-line)."""
        self._buf.clear()
        self._skipping = True

    def reset(self) -> None:
        """Forget any partial line (the source was truncated or reopened)."""
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[tuple[str, bool]]:
        """Return the lines completed by ``data`` (without their newline)."""
        out: list[tuple[str, bool]] = []
        parts = data.split(b"\n")
        rest = parts.pop()  # bytes after the last newline: the start of the next line
        for index, part in enumerate(parts):
            if index == 0:
                if self._skipping:
                    self._skipping = False
                    continue
                if self._buf:
                    self._buf += part
                    part = bytes(self._buf)
                    self._buf.clear()
            out.append(self._decode(part))
        if self._skipping or not rest:
            return out
        self._buf += rest
        if len(self._buf) > self._max_bytes:  # so more than max_chars characters
            out.append(self._decode(bytes(self._buf), force_cut=True))
            self._buf.clear()
            self._skipping = True
        return out

    def flush(self) -> list[tuple[str, bool]]:
        """Return the final line that had no newline, if any."""
        line = [] if self._skipping or not self._buf else [self._decode(bytes(self._buf))]
        self.reset()
        return line

    def _decode(self, raw: bytes, force_cut: bool = False) -> tuple[str, bool]:
        text = raw.decode("utf-8", errors="replace")
        if force_cut or len(text) > self._max_chars:
            return text[: self._max_chars], True
        return text, False
