"""Secrets that span lines: a stream redactor that remembers where it is.

``StreamRedactor.redact_line(line)`` is fed the successive lines of one stream (a log, a
command's output) and returns each line redacted, one line out for one line in. Besides
what ``Redactor`` finds in a line, it hides

* a **private key's body** (PEM of any kind, ``OPENSSH``, ``ENCRYPTED``, PGP ``PRIVATE KEY
  BLOCK``, SSH2): from the ``BEGIN`` line to the matching ``END`` line;
* the values under a **Kubernetes secret's** ``data:`` / ``stringData:`` /
  ``binaryData:`` (``kubectl get secret -o yaml`` and ``-o json``): base64 values under
  ``data:``, every value under ``stringData:``; keys stay readable;
* a **YAML block scalar** (``tls.key: |``, ``password: >-``) under a secret-looking name;
* a **base64-wrapped PEM private key** (``LS0tLS1CRUdJTi...`` continued on lines of base64);
* a PuTTY key's ``Private-Lines: N`` and an **AWS secret key** (40 characters, not hex)
  within ``AWS_WINDOW`` lines after an AWS access key id.

State is bounded: a key body ends at its ``END`` line, at the first line that cannot be
key material (anything but one base64 chunk, a blank line or an armor header, once the
prefix the ``BEGIN`` line had, e.g. a timestamp, is set aside), or after
``MAX_KEY_LINES`` lines; a YAML or JSON block ends at the first line indented no deeper
than its key (or ``}``), or after ``MAX_BLOCK_LINES`` lines. A line that ends a state is
redacted as an ordinary line.
"""

from __future__ import annotations

import re
from functools import cache

from cockpit.core.secret_rules import AWS_SECRET, B64_PEM_PREFIX, MASK, is_b64_private_key

TYPE_CHECKING = False  # (typing: milliseconds of an incident query's start)
if TYPE_CHECKING:
    from cockpit.core.redact import Redactor

#: Longest private key body hidden (a 16384-bit RSA key in PEM has ~200 lines).
MAX_KEY_LINES = 256
#: Longest YAML/JSON block (a secret's data, a block scalar) hidden.
MAX_BLOCK_LINES = 2000
#: Lines after an AWS access key id on which a 40-character secret key is hidden.
AWS_WINDOW = 3

_PEM_BEGIN = re.compile(r"-{4,5} ?BEGIN ([A-Z0-9 ]*?)PRIVATE KEY((?: BLOCK)?) ?-{4,5}")
_B64_CHUNK = re.compile(r"=?[A-Za-z0-9+/]+={0,3}")
_ARMOR_HEADER = re.compile(r"[A-Za-z][\w-]*: .*")
_B64_PEM_AT_END = re.compile(B64_PEM_PREFIX + r"[A-Za-z0-9+/]{46,}={0,2}\s*$")
_YAML_DATA = re.compile(r"^\s*(?:-\s+)?(data|stringData|binaryData):\s*$")
_JSON_DATA = re.compile(r'^\s*"(data|stringData|binaryData)"\s*:\s*\{\s*$')
_YAML_BLOCK = re.compile(r"^\s*(?:-\s+)?([\"']?)([\w.-]+)\1\s*:\s*[|>][-+0-9]*\s*$")
_YAML_ENTRY = re.compile(r"^(\s*(?:-\s+)?([\"']?)[^\s:\"']+\2\s*:)(\s*)(.*?)\s*$")
_JSON_ENTRY = re.compile(r'^(\s*"(?:[^"\\]|\\.)*"\s*:\s*)"((?:[^"\\]|\\.)*)"(\s*,?\s*)$')
_PUTTY_PRIVATE = re.compile(r"^\s*Private-Lines:\s*(\d+)\s*$")
_SECRET_NAME = re.compile(
    r"(?i)(?:password|passwd|passphrase|secret|token|credential|private[_-]?key|api[_-]?key"
    r"|access[_-]?key|client[_-]?key|(?:^|[._-])key|\.pem$|^id_(?:rsa|dsa|ecdsa|ed25519)$)"
)
_HARMLESS_NAME = re.compile(r"(?i)(?:hash|digest|fingerprint|[-_.](?:file|path|id|name|type))$")
_NOT_SECRET_VALUES = frozenset({"", "null", "~", "true", "false", '""', "''", "{}", "[]"})


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _is_base64(value: str) -> bool:
    return (len(value) >= 4 and len(value) % 4 == 0 and not value.isdigit()
            and _B64_CHUNK.fullmatch(value) is not None and value[0] != "=")


class _KeyBody:
    """Inside a private key: every line up to the END line is hidden."""

    __slots__ = ("_end", "_prefix_tokens", "_redactor", "_seen", "done")

    def __init__(self, begin: re.Match[str], line: str, redactor: Redactor) -> None:
        self._end = _pem_end(begin.group(1), begin.group(2))
        self._prefix_tokens = len(line[: begin.start()].split())
        self._redactor = redactor
        self._seen = 0
        self.done = False

    def feed(self, line: str) -> str | None:
        if "END" in line:
            end = self._end.search(line)
            if end is not None:
                self.done = True
                before, after = line[: end.start()], line[end.end():]
                if self._material(before, last=True):
                    before = f"{_indent(before)}{MASK} " if before.strip() else before
                else:
                    before = self._redactor.redact_known(before)[0]
                rest = self._redactor.redact_known(after)[0] if after else ""
                return f"{before}{end.group(0)}{rest}"
        if self._seen >= MAX_KEY_LINES:
            return None
        self._seen += 1
        return f"{_indent(line)}{MASK}" if self._material(line) else None

    def _material(self, line: str, *, last: bool = False) -> bool:
        """Whether ``line`` can be part of a key body (its prefix set aside)."""
        rest = line.strip()
        if self._prefix_tokens:
            parts = rest.split(None, self._prefix_tokens)
            rest = parts[self._prefix_tokens] if len(parts) > self._prefix_tokens else ""
        rest = rest.strip("\"',").removesuffix("\\n").removesuffix("\\r")
        if not rest:
            return not last
        if _B64_CHUNK.fullmatch(rest) is not None:
            return True
        return not last and self._seen <= 6 and _ARMOR_HEADER.fullmatch(rest) is not None


@cache
def _pem_end(kind: str, block: str) -> re.Pattern[str]:
    return re.compile(rf"-{{4,5}} ?END {re.escape(kind)}PRIVATE KEY{re.escape(block)} ?-{{4,5}}")


class _Lines:
    """A counted run of base64 lines (PuTTY's private lines, a wrapped base64 PEM)."""

    __slots__ = ("_left", "done")

    def __init__(self, count: int) -> None:
        self._left = count
        self.done = False

    def feed(self, line: str) -> str | None:
        if self._left <= 0 or _B64_CHUNK.fullmatch(line.strip()) is None:
            return None
        self._left -= 1
        self.done = self._left == 0
        return f"{_indent(line)}{MASK}"


class _Block:
    """A YAML block scalar under a secret name: deeper lines hidden."""

    __slots__ = ("_indent", "_left", "done")

    def __init__(self, indent: int) -> None:
        self._indent = indent
        self._left = MAX_BLOCK_LINES
        self.done = False

    def feed(self, line: str) -> str | None:
        if not line.strip():
            return line
        depth = len(line) - len(line.lstrip())
        if depth <= self._indent or self._left <= 0:
            return None
        self._left -= 1
        return f"{line[:depth]}{MASK}"


class _YamlSecretData:
    """The mapping under ``data:`` / ``stringData:``: values hidden, keys kept."""

    __slots__ = ("_block", "_indent", "_left", "_plain", "done")

    def __init__(self, indent: int, plain: bool) -> None:
        self._indent = indent
        self._plain = plain
        self._block: int | None = None
        self._left = MAX_BLOCK_LINES
        self.done = False

    def feed(self, line: str) -> str | None:
        if not line.strip():
            return line
        depth = len(line) - len(line.lstrip())
        if self._block is not None:
            if depth > self._block:
                return f"{line[:depth]}{MASK}"
            self._block = None
        if depth <= self._indent or self._left <= 0:
            return None
        self._left -= 1
        entry = _YAML_ENTRY.match(line)
        if entry is None:
            return f"{line[:depth]}{MASK}"  # an odd shape inside a secret: hidden
        value = entry.group(4)
        if not value:
            return None  # a nested mapping: not a secret's data, whose values are scalars
        if value[0] in "|>":
            self._block = depth
            return line
        if _secret_value(value, self._plain):
            return f"{entry.group(1)}{entry.group(3) or ' '}{MASK}"
        return line


class _JsonSecretData:
    """The object under ``"data": {`` in ``kubectl get secret -o json``."""

    __slots__ = ("_left", "_plain", "done")

    def __init__(self, plain: bool) -> None:
        self._plain = plain
        self._left = MAX_BLOCK_LINES
        self.done = False

    def feed(self, line: str) -> str | None:
        stripped = line.strip()
        if stripped.startswith("}"):
            self.done = True
            return line
        if self._left <= 0:
            return None
        self._left -= 1
        entry = _JSON_ENTRY.match(line)
        if entry is None:
            return f"{_indent(line)}{MASK}" if stripped else line
        if _secret_value(entry.group(2), self._plain):
            return f'{entry.group(1)}"{MASK}"{entry.group(3)}'
        return line


def _secret_value(value: str, plain: bool) -> bool:
    if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) >= 2:
        value = value[1:-1]
    if value.lower() in _NOT_SECRET_VALUES or value == MASK:
        return False
    return True if plain else _is_base64(value)


def _secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None and _HARMLESS_NAME.search(name) is None


_State = _KeyBody | _Lines | _Block | _YamlSecretData | _JsonSecretData


def _start(line: str, redactor: Redactor) -> _State | None:
    """The state that ``line`` opens for the lines after it, if any."""
    if "BEGIN" in line:
        begin = _PEM_BEGIN.search(line)
        if begin is not None and _pem_end(begin.group(1), begin.group(2)).search(
            line, begin.end()
        ) is None:
            return _KeyBody(begin, line, redactor)
    if B64_PEM_PREFIX in line:
        blob = _B64_PEM_AT_END.search(line)
        if blob is not None and is_b64_private_key(blob.group(0).strip()):
            return _Lines(MAX_KEY_LINES)
    last = line[-1:]
    tail = line
    if last in " \t\r\n" and last:
        tail = line.rstrip()
        last = tail[-1:]
    if last == ":":
        data = _YAML_DATA.match(tail)
        if data is not None:
            return _YamlSecretData(data.start(1), data.group(1) == "stringData")
        return None
    if last == "{":
        data = _JSON_DATA.match(tail)
        return _JsonSecretData(data.group(1) == "stringData") if data is not None else None
    if last in "|>-+0123456789" and ":" in tail:
        block = _YAML_BLOCK.match(tail)
        if block is not None and _secret_name(block.group(2)):
            return _Block(block.start(2) - (1 if block.group(1) else 0))
        putty = _PUTTY_PRIVATE.match(tail)
        if putty is not None:
            return _Lines(min(int(putty.group(1)), MAX_KEY_LINES))
    return None


class StreamRedactor:
    """Redacts one stream line by line, remembering what spans lines (see the module doc)."""

    __slots__ = ("_aws", "_redactor", "_state")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._state: _State | None = None
        self._aws = 0  # lines left on which an AWS secret key is hidden

    def redact_line(self, line: str) -> str:
        """The next line of the stream with its secrets (and a key body's lines) hidden."""
        if self._redactor.has_literals:
            line = self._redactor.literal_sub(line)
        return self.next_known(line)

    def next_known(self, line: str) -> str:
        """Like ``redact_line`` for a line whose literal secret values are already hidden."""
        state = self._state
        if state is not None:
            out = state.feed(line)
            if out is not None:
                if state.done:
                    self._state = None
                return out
            self._state = None
        out, aws = self._redactor.redact_known(line)
        if aws:
            self._aws = AWS_WINDOW
        elif self._aws:
            self._aws -= 1
            out = AWS_SECRET.sub(MASK, out)
        self._state = _start(line, self._redactor)
        return out
