"""Text styles as the terminal sees them (SGR state), and the shortest way between two.

Textual writes every segment as ``ESC[<style>m text ESC[0m``: a reset and the full style
again even when the next segment looks the same. Styles here are interned to small ids so
cells compare fast, and ``transition`` emits only what changes.
"""

from __future__ import annotations

from typing import NamedTuple

#: SGR codes that switch an attribute off, and the attributes each one clears
_ATTRIBUTE_OFF = {
    "21": ("4", "21"),
    "22": ("1", "2"),
    "23": ("3",),
    "24": ("4", "21"),
    "25": ("5", "6"),
    "27": ("7",),
    "28": ("8",),
    "29": ("9",),
    "55": ("53",),
}
_ATTRIBUTES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "9", "21", "51", "52", "53"})


class SgrState(NamedTuple):
    """Everything that decides how the terminal draws the next character."""

    attributes: frozenset[str] = frozenset()
    foreground: str | None = None  #: e.g. "31", "38;5;208", "38;2;1;2;3"
    background: str | None = None
    underline_color: str | None = None
    link: str | None = None  #: the parameters of an OSC 8 hyperlink

    def codes(self) -> list[str]:
        """SGR parameters that set this state from the default state."""
        codes = sorted(self.attributes, key=_attribute_order)
        for colour in (self.foreground, self.background, self.underline_color):
            if colour is not None:
                codes.append(colour)
        return codes


DEFAULT = SgrState()


def _attribute_order(code: str) -> tuple[int, str]:
    head = code.split(":", 1)[0]
    return (int(head) if head.isdigit() else 999, code)


class UnknownSgr(ValueError):
    """An SGR parameter this module does not model; the frame is passed on untouched."""


def apply_sgr(state: SgrState, params: str) -> SgrState:
    """The state after ``ESC[<params>m``."""
    if not params:
        return SgrState(link=state.link)
    parts = params.split(";")
    attributes = set(state.attributes)
    foreground, background, underline = (
        state.foreground, state.background, state.underline_color
    )
    index = 0
    while index < len(parts):
        code = parts[index]
        index += 1
        if code in ("", "0"):
            attributes.clear()
            foreground = background = underline = None
        elif code in _ATTRIBUTES or code.startswith("4:"):
            if code.startswith("4:"):
                attributes -= {a for a in attributes if a == "4" or a.startswith("4:")}
            attributes.add(code)
        elif code in _ATTRIBUTE_OFF:
            cleared = _ATTRIBUTE_OFF[code]
            attributes -= {a for a in attributes if a in cleared or a.startswith("4:")}
        elif code in ("38", "48", "58"):
            if index < len(parts) and parts[index] == "5" and index + 1 < len(parts):
                colour = ";".join([code, *parts[index:index + 2]])
                index += 2
            elif parts[index:index + 1] == ["2"] and index + 4 <= len(parts):
                colour = ";".join([code, *parts[index:index + 4]])
                index += 4
            else:
                raise UnknownSgr(params)
            if code == "38":
                foreground = colour
            elif code == "48":
                background = colour
            else:
                underline = colour
        elif code == "39":
            foreground = None
        elif code == "49":
            background = None
        elif code == "59":
            underline = None
        elif code.isdigit() and (30 <= int(code) <= 37 or 90 <= int(code) <= 97):
            foreground = code
        elif code.isdigit() and (40 <= int(code) <= 47 or 100 <= int(code) <= 107):
            background = code
        else:
            raise UnknownSgr(params)
    return SgrState(frozenset(attributes), foreground, background, underline, state.link)


class StyleTable:
    """Interns ``SgrState`` values as ints (0 is the default state) and caches transitions."""

    def __init__(self) -> None:
        self._ids: dict[SgrState, int] = {DEFAULT: 0}
        self.states: list[SgrState] = [DEFAULT]
        self._parsed: dict[tuple[int, str], int] = {}
        self._transitions: dict[tuple[int, int], str] = {}

    def intern(self, state: SgrState) -> int:
        style = self._ids.get(state)
        if style is None:
            style = self._ids[state] = len(self.states)
            self.states.append(state)
        return style

    def after_sgr(self, style: int, params: str) -> int:
        """The style id after ``ESC[<params>m`` is applied to ``style``."""
        key = (style, params)
        result = self._parsed.get(key)
        if result is None:
            result = self._parsed[key] = self.intern(apply_sgr(self.states[style], params))
        return result

    def with_link(self, style: int, link: str | None) -> int:
        return self.intern(self.states[style]._replace(link=link or None))

    def transition(self, current: int | None, target: int) -> str:
        """Escape sequences taking the terminal from ``current`` (None: unknown) to ``target``."""
        if current == target:
            return ""
        key = (-1 if current is None else current, target)
        sequence = self._transitions.get(key)
        if sequence is None:
            sequence = self._transitions[key] = self._build(current, target)
        return sequence

    def _build(self, current: int | None, target: int) -> str:
        new = self.states[target]
        old = self.states[current] if current is not None else None
        full = "\x1b[0;" + ";".join(new.codes()) + "m" if new.codes() else "\x1b[0m"
        sgr = full
        if old is not None and old.attributes <= new.attributes:
            delta = sorted(new.attributes - old.attributes, key=_attribute_order)
            for before, after, default in (
                (old.foreground, new.foreground, "39"),
                (old.background, new.background, "49"),
                (old.underline_color, new.underline_color, "59"),
            ):
                if before != after:
                    delta.append(after if after is not None else default)
            sgr = "\x1b[" + ";".join(delta) + "m" if delta else ""
            if len(sgr) > len(full):
                sgr = full
        link = ""
        if old is None or old.link != new.link:
            link = f"\x1b]8;{new.link}\x1b\\" if new.link else "\x1b]8;;\x1b\\"
            if old is None and new.link is None:
                link = ""  # an unknown state never leaves a link open: Textual closes them
        return sgr + link
