"""The one redactor for the audit trail, the UI panes and CLI output.

``Redactor.redact(text)`` replaces secrets with ``***`` and keeps their label, so an
operator still sees what was hidden: ``Authorization: Bearer ***``, ``password=***``,
``https://user:***@host``, ``"api_key": "***"``. It covers

* ``Authorization`` / ``Proxy-Authorization`` headers (any scheme) and ``Cookie`` headers,
* bearer tokens anywhere,
* ``X-API-Key``, ``X-Auth-Token``, ``Api-Key`` and any ``name: value`` / ``name=value`` /
  ``"name": "value"`` / ``--name value`` pair whose name contains password, passwd,
  passphrase, secret, token, api key, access key, private key or credential (names ending
  in ``_hash``, ``_count``, ``_file``, ``_path``, ``_id`` ... are left alone: they hold no
  secret),
* credentials in URLs, AWS access key ids, well-known token formats (GitHub, Slack,
  Stripe, OpenAI-style ``sk-``, Google ``AIza``, JWTs),
* PEM private key blocks (a ``BEGIN`` without its ``END`` hides the rest of the text),
* values given explicitly (secret params) and values of environment variables whose
  names contain KEY, TOKEN, SECRET, PASSWORD, PASSWD or CREDENTIAL (values of 4 or
  more characters; names ending in ``_FILE``, ``_PATH``, ``_DIR`` are skipped).

A precheck skips text with nothing suspicious, so redacting every log line is cheap.
``strip_escapes(text)`` makes terminal escape sequences and control characters inert.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

#: Shortest explicit secret (e.g. a secret param) that is replaced wherever it appears.
MIN_EXPLICIT_SECRET = 2
#: Shortest environment-variable value that is treated as a secret.
MIN_ENV_SECRET = 4

_SECRET_WORDS = (
    r"password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|client[_-]?key|auth[_-]?key|credential"
)
#: Key names that contain a secret word but hold no secret.
_HARMLESS_KEY = re.compile(
    r"(?i)(?:hash|sha\d*|digest|fingerprint|count|tokens|expiry|expires"
    r"|[-_.](?:file|path|dir|url|uri|endpoint|id|type|len|length|name|at|ttl))$"
)

# Anything that could need redaction; a line that matches none of these is returned as is.
_PRECHECK = re.compile(
    r"(?i)pass(?:word|wd|phrase)|secret|token|api[_-]?key|apikey|access[_-]?key|private"
    r"|credential|authorization|bearer|cookie|://|akia|asia|ghp_|gho_|ghu_|ghs_|github_pat_"
    r"|xox[abprs]-|sk[-_]|aiza|eyj|client[_-]?key|auth[_-]?key"
)

#: Lower-case fragments one of which every secret pattern below contains. A plain
#: substring scan is ~20x cheaper than the case-insensitive alternation above.
_HINTS = ("pass", "secret", "token", "key", "private", "credential", "authoriz", "bearer",
          "cookie", "://", "akia", "asia", "gh", "xox", "sk-", "sk_", "aiza", "eyj")


def _suspicious(text: str) -> bool:
    """Whether ``text`` may hold a secret: a cheap test before the real patterns."""
    low = text.lower()
    return any(hint in low for hint in _HINTS) and _PRECHECK.search(text) is not None


_PEM = re.compile(
    r"(-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----)(.*?)(?:(-----END \2PRIVATE KEY-----)|\Z)",
    re.DOTALL,
)
_URL_CREDS = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"'<>]*:)([^/\s@\"'<>]+)(@)")
_AUTH_HEADER = re.compile(
    r"(?i)(\b(?:proxy-)?authorization|\b(?:set-)?cookie)([\"']?\s*[:=]\s*)"
    r"(?:([\"'])([^\n]*?)\3|(?![\"'{\[])([^\r\n\"']+))"
)
_SCHEME = re.compile(r"^([A-Za-z][\w-]*)(\s+)(\S.*)$", re.DOTALL)
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)([\w\-.~+/]+=*)")
_FLAG = re.compile(
    r"(?i)(?<![\w-])(--?[\w-]*(?:" + _SECRET_WORDS + r")[\w-]*)(\s+)"
    r"(\"[^\"\n]*\"|'[^'\n]*'|(?!-)[^\s\"']+)"
)
_PAIR = re.compile(
    r"(?i)([\"']?)((?<![\w.-])[\w.-]*?(?:" + _SECRET_WORDS + r")[\w.-]*)\1(\s*[:=]\s*)"
    r"(\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|(?![{\[])[^\s\"'&,;)}\]<>]+)"
)
_TOKENS = re.compile(
    r"\b(?:(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|sk_(?:live|test)_[A-Za-z0-9]{10,}|sk-[A-Za-z0-9_-]{20,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})\b"
)
_LITERAL_VALUES = frozenset({"null", "true", "false", "none", MASK})
_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL")
_ENV_SKIP = re.compile(r"_(?:FILE|PATH|DIR)$")
_OBJ_KEY = re.compile(r"(?i)key|token|secret|password|passwd|authorization|credential")


def _pem(m: re.Match[str]) -> str:
    end = m.group(4) or ""
    return f"{m.group(1)}\n{MASK}\n{end}" if end else f"{m.group(1)}\n{MASK}"


def _auth(m: re.Match[str]) -> str:
    name, sep, quote = m.group(1), m.group(2), m.group(3) or ""
    value = m.group(4) if m.group(4) is not None else m.group(5)
    scheme = _SCHEME.match(value.strip()) if name.lower().endswith("authorization") else None
    hidden = f"{scheme.group(1)} {MASK}" if scheme else MASK
    return f"{name}{sep}{quote}{hidden}{quote}"


def _bearer(m: re.Match[str]) -> str:
    token = m.group(3)
    # "bearer of bad news" is prose; a token has digits or punctuation or is long.
    if token == MASK or (len(token) < 16 and not re.search(r"[\d\-._~+/=]", token)):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{MASK}"


def _flag(m: re.Match[str]) -> str:
    if _HARMLESS_KEY.search(m.group(1)):
        return m.group(0)
    value = m.group(3)
    quote = value[0] if value[:1] in "\"'" else ""
    return f"{m.group(1)}{m.group(2)}{quote}{MASK}{quote}"


def _pair(m: re.Match[str]) -> str:
    quote, name, sep, value = m.group(1), m.group(2), m.group(3), m.group(4)
    if _HARMLESS_KEY.search(name):
        return m.group(0)
    vquote = value[0] if value[:1] in "\"'" else ""
    inner = value[1:-1] if vquote else value
    if not vquote and inner.lower() in _LITERAL_VALUES:
        return m.group(0)
    if not vquote and quote == '"':
        vquote = '"'  # keep a JSON document valid: "password": 123 -> "password": "***"
    if inner == MASK:
        return m.group(0)
    return f"{quote}{name}{quote}{sep}{vquote}{MASK}{vquote}"


class Redactor:
    """Hide secrets in text and in JSON-like objects."""

    def __init__(
        self, secrets: Iterable[str] = (), env: Mapping[str, str] | None = None
    ) -> None:
        self._secrets: tuple[str, ...] = tuple(
            s for s in dict.fromkeys(secrets) if s and len(s) >= MIN_EXPLICIT_SECRET
        )
        self._env = dict(env) if env is not None else {}
        found = set(self._secrets)
        for name, value in self._env.items():
            upper = name.upper()
            if (
                value
                and len(value) >= MIN_ENV_SECRET
                and _ENV_NAME.search(upper)
                and not _ENV_SKIP.search(upper)
                and value.lower() not in _LITERAL_VALUES
            ):
                found.add(value)
        variants: set[str] = set()
        for value in found:
            variants.add(value)
            for other in (urllib.parse.quote(value, safe=""), _json_escape(value)):
                if other != value:
                    variants.add(other)
        self._literal_values = frozenset(variants)
        self._literals = (
            re.compile("|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True)))
            if variants
            else None
        )

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        """A redactor that also hides ``more`` (e.g. the values of an action's secret params)."""
        return Redactor((*self._secrets, *more), self._env)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``; labels are kept."""
        if not text:
            return text
        if self._literals is not None:
            text = self._literals.sub(MASK, text)
        if not _suspicious(text):
            return text
        if "-----BEGIN" in text:
            text = _PEM.sub(_pem, text)
        if "://" in text:
            text = _URL_CREDS.sub(rf"\1{MASK}\3", text)
        text = _AUTH_HEADER.sub(_auth, text)
        text = _BEARER.sub(_bearer, text)
        text = _FLAG.sub(_flag, text)
        text = _PAIR.sub(_pair, text)
        return _TOKENS.sub(MASK, text)

    def stream(self) -> StreamRedactor:
        """A redactor for the successive lines of one stream, with state across lines."""
        return StreamRedactor(self)

    def redact_obj(self, obj: Any) -> Any:
        """A copy of ``obj`` with strings redacted and values of secret-named keys hidden."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            out: dict[Any, Any] = {}
            for key, value in obj.items():
                if isinstance(key, str) and _OBJ_KEY.search(key) and not _HARMLESS_KEY.search(key):
                    out[key] = _mask_all(value)
                else:
                    out[key] = self.redact_obj(value)
            return out
        if isinstance(obj, list | tuple):
            return [self.redact_obj(item) for item in obj]
        return obj


_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----")


class StreamRedactor:
    """Redacts one stream line by line, remembering what spans lines (a key's body)."""

    __slots__ = ("_in_key", "_redactor")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._in_key: str | None = None  # the END line awaited, inside a private key

    def redact_line(self, line: str) -> str:
        """The next line of the stream with its secrets (and a key body's lines) hidden."""
        if self._in_key is not None:
            if self._in_key in line:
                self._in_key = None
                return line[line.index("-----END"):]
            return MASK
        begin = _PEM_BEGIN.search(line) if "-----BEGIN" in line else None
        if begin is not None and f"-----END {begin.group(1)}PRIVATE KEY-----" not in line:
            self._in_key = f"-----END {begin.group(1)}PRIVATE KEY-----"
            return self._redactor.redact(line[: begin.end()])
        return self._redactor.redact(line)


def _mask_all(value: Any) -> Any:
    """Every leaf of ``value`` hidden; empty values and None stay (nothing to hide)."""
    if value is None or value == "" or isinstance(value, bool):
        return value
    if isinstance(value, Mapping):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_all(v) for v in value]
    return MASK


def _json_escape(value: str) -> str:
    import json

    return json.dumps(value)[1:-1]


def default_redactor() -> Redactor:
    """A redactor that knows the secrets in this process's environment."""
    return Redactor(env=os.environ)


# --- terminal escapes --------------------------------------------------------------------


def strip_escapes(text: str, *, keep_newlines: bool = False) -> str:
    """Old name of ``cockpit.core.boundary.show_controls``: escapes made visible, not removed."""
    from cockpit.core.boundary import show_controls

    return show_controls(text, keep_newlines=keep_newlines)


def safe_text(text: str, redactor: Redactor) -> str:
    """Redacted, with escapes made visible: what panes and CLI output show for a line."""
    return strip_escapes(redactor.redact(text))
