"""The one redactor for the audit trail, the UI panes and CLI output.

``Redactor.redact(text)`` replaces secrets with ``***`` and keeps their label, so an
operator still sees what was hidden: ``Authorization: Bearer ***``, ``password=***``,
``https://user:***@host``, ``"api_key": "***"``. It covers

* ``Authorization`` / ``Proxy-Authorization`` headers (any scheme) and ``Cookie`` headers,
* bearer tokens anywhere,
* ``X-API-Key``, ``X-Auth-Token``, ``Api-Key`` and any ``name: value`` / ``name=value`` /
  ``"name": "value"`` / ``--name value`` pair whose name contains password, passwd,
  passphrase, secret, token, api key, access key, account key, private key, credential,
  creds ... (names ending in ``_hash``, ``_count``, ``_file``, ``_path``, ``_id`` ... are
  left alone: they hold no secret), and short names that do: ``pass``, ``pw``, ``*pwd``
  (a bare ``pwd`` only in ``;``-separated connection strings)
  (not ``PWD=/dir``), ``auth``/``_auth`` (Docker's and npm's base64 credentials),
  ``sig`` (Azure SAS), ``X-Amz-Signature``,
* credentials in URLs (``postgres://user:***@host``), webhook URLs (Slack, Teams,
  Discord), passwords on command lines (``mysql -p***``, ``sshpass -p``, ``redis-cli -a``,
  ``curl -u user:***``, ``docker login -p``, ``.netrc``'s ``password``),
* the free-standing token formats of ``cockpit.core.secret_rules`` (after gitleaks' and
  detect-secrets' rules: cloud keys, registry tokens, SaaS API keys, JWTs ...), and a
  40-character AWS secret key next to an AWS access key id,
* private keys (PEM of any kind, OpenSSH, PGP, SSH2; base64 of a PEM private key),
* values given explicitly (secret params) and values of environment variables whose
  names contain KEY, TOKEN, SECRET, PASSWORD, PASSWD or CREDENTIAL (values of 4 or
  more characters; names ending in ``_FILE``, ``_PATH``, ``_DIR`` are skipped).

Multi-line text is redacted with the state of ``Redactor.stream()`` (see
``cockpit.core.secret_blocks``): a private key's body, the values under a Kubernetes
secret's ``data:``/``stringData:`` and a secret-named YAML block are hidden across lines.

A precheck (plain substring tests and two searches that skip most of a line) sends each
line only to the patterns it may need, so redacting every log line stays cheap.
``strip_escapes(text)`` makes terminal escape sequences and control characters inert.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from cockpit.core.secret_blocks import StreamRedactor
from cockpit.core.secret_rules import (
    _TOKEN_GATE,
    AWS_ID,
    AWS_SECRET,
    MASK,
    hide_tokens,
    may_hold_token,
)

TYPE_CHECKING = False  # (typing: milliseconds of an incident query's start)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MASK", "Redactor", "StreamRedactor", "default_redactor", "safe_text",
           "strip_escapes"]

#: Shortest explicit secret (e.g. a secret param) that is replaced wherever it appears.
MIN_EXPLICIT_SECRET = 2
#: Shortest environment-variable value that is treated as a secret.
MIN_ENV_SECRET = 4

class _Lazy:
    """A pattern compiled on first use: an incident query that prints records with
    nothing secret-looking in them compiles none of these (~3 ms of its start). After
    that first use its methods are the compiled pattern's own, as fast."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(*self._args)
        for attr in ("search", "match", "fullmatch", "sub", "subn", "finditer", "findall",
                     "split", "pattern", "flags", "groups", "groupindex"):
            setattr(self, attr, getattr(compiled, attr))
        return getattr(compiled, name)


def _lazy(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)`` when first used (``_Lazy``)."""
    return _Lazy(pattern, flags)  # type: ignore[return-value]


_SECRET_WORDS = (
    r"password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|client[_-]?key|auth[_-]?key|credential|creds"
    r"|(?:account|signing|encryption|master|license|subscription|app)[_-]?key"
)
#: Key names that contain a secret word but hold no secret.
_HARMLESS_KEY = _lazy(
    r"(?i)(?:hash|sha\d*|digest|fingerprint|count|tokens|expiry|expires"
    r"|[-_.](?:file|path|dir|url|uri|endpoint|id|type|len|length|name|at|ttl|store|helpers?))$"
    r"|(?<=[a-z])(?:File|Path|Dir|Url|Uri|Endpoint|Id|Type|Length|Name|At|Ttl|Store|Helpers?)$"
)



def _word_hint(low: str) -> bool:
    """Whether ``low`` (a lower-case line) holds a fragment every name-based pattern needs."""
    return ("pass" in low or "secret" in low or "token" in low or "key" in low
            or "auth" in low or "cred" in low or "bearer" in low or "cookie" in low
            or "pw" in low or "sig" in low)


def _command_hint(low: str) -> bool:
    """Whether ``low`` may be a command line that carries a password (see ``_COMMANDS``)."""
    return ("mysql" in low or "mariadb" in low or "curl " in low or "login" in low
            or "mongo" in low or "redis-cli" in low or "sshpass" in low)

_PEM = _lazy(
    r"(-{4,5} ?BEGIN ([A-Z0-9 ]*?)PRIVATE KEY((?: BLOCK)?) ?-{4,5})(.*?)"
    r"(?:(-{4,5} ?END \2PRIVATE KEY\3 ?-{4,5})|\Z)",
    re.DOTALL,
)
_PEM_EDGES = _lazy(r"^((?:\s|\\[rn])*)(.*?)((?:\s|\\[rn])*)$", re.DOTALL)
_URL_CREDS = _lazy(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"'<>]*:)([^/\s\"'<>]+)(@)")
_AUTH_HEADER = _lazy(
    r"(?i)(\b(?:proxy-)?authorization|\b(?:set-)?cookie)([\"']?\s*[:=]\s*)"
    r"(?:([\"'])([^\n]*?)\3|(?![\"'{\[])([^\r\n\"']+))"
)
_SCHEME = _lazy(r"^([A-Za-z][\w-]*)(\s+)(\S.*)$", re.DOTALL)
_BEARER = _lazy(r"(?i)\b(bearer)(\s+)([\w\-.~+/]+=*)")
_FLAG = _lazy(
    r"(?i)(?<![\w-])(--?[\w-]*(?:" + _SECRET_WORDS + r")[\w-]*)(\s+)"
    r"(\"[^\"\n]*\"|'[^'\n]*'|(?!-)[^\s\"']+)"
)
# A value; not a JSON object or list, nor a YAML block indicator (``key: |``).
_VALUE = (r"(\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'"
          r"|(?![{\[]|[|>][-+0-9]*\s*$)[^\s\"'&,;)}\]<>]+)")
_PAIR = _lazy(
    r"(?i)([\"']?)((?<![\w.$-])(?<!\$\{)[\w.-]*?(?:" + _SECRET_WORDS + r")[\w.-]*)\1(\s*[:=]\s*)"
    + _VALUE
)
#: What ``_FLAG``, ``_PAIR`` and ``_NAMED`` need, searched first in the lower-cased line
#: (each a superset of its pattern's matches, without its slow look-behinds).
_FLAG_HINT = _lazy(r"-[\w-]*(?:" + _SECRET_WORDS + r")[\w-]*\s")
_PAIR_HINT = _lazy(r"(?:" + _SECRET_WORDS + r")[\w.-]*[\"']?\s*[:=]")
_NAMED_HINT = _lazy(r"(?:pass|pw|pwd|auth|sig|signature|session)[\"']?\s*[:=]")
#: Short names that hold a secret; each value is checked by ``_named`` before hiding.
_NAMED = _lazy(
    r"(?i)([\"']?)((?<![\w.-])(?<!\$\{)-{0,2}(?:pass|pw|[\w.-]*pwd|_?auth|sig|signature"
    r"|x-(?:amz|goog)-signature|_gitlab_session))\1(\s*[:=]\s*)" + _VALUE
)
_LITERAL_VALUES = frozenset({"null", "true", "false", "none", "value", MASK})
_ENV_NAME = _lazy(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL")
_ENV_SKIP = _lazy(r"_(?:FILE|PATH|DIR)$")
_OBJ_KEY = _lazy(r"(?i)key|token|secret|password|passwd|authorization|credential")
_RANDOMISH = _lazy(r"(?=.*[0-9+/=%])(?=.*[A-Za-z])[A-Za-z0-9+/=_%-]{8,}|[A-Za-z]{20,}")

# Command lines: (a fragment the line must hold, the pattern whose group 2 is a password).
_COMMANDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("mysql", _lazy(r"(?i)(\bmysql[\w-]*\b.*?\s-p)(\"[^\"]*\"|'[^']*'|[^\s\"'-][^\s\"']*)")),
    ("mariadb",
     _lazy(r"(?i)(\bmariadb[\w-]*\b.*?\s-p)(\"[^\"]*\"|'[^']*'|[^\s\"'-][^\s\"']*)")),
    ("sshpass", _lazy(r"(\bsshpass\b.*?\s-p\s*)(\S+)")),
    ("redis-cli", _lazy(r"(\bredis-cli\b.*?\s(?:-a|--pass)\s+)(\S+)")),
    ("mongo", _lazy(r"(\bmongo(?:sh)?\b.*?\s-p\s+)(\S+)")),
    ("login", _lazy(
        r"(\b(?:docker|podman|nerdctl|buildah|skopeo|helm|oras|crane)\b.*?\blogin\b.*?\s-p\s+)"
        r"(\S+)")),
    ("curl ", _lazy(r"(\bcurl\b.*?\s(?:-u|--user)(?:\s+|=)[\"']?[^\s:\"']*:)([^\s\"']+)")),
)
#: ``.netrc``: ``machine HOST login USER password SECRET`` (a line with a word hint).
_NETRC = _lazy(r"(\bmachine\s+\S+.*?\bpassword\s+)(\S+)")



#: A value that only names where the secret comes from (``$API_KEY``, ``${TOKEN:?}``,
#: ``$(cat key)``): showing it hides nothing, and hiding it would show something other
#: than what runs. Lower-case ``$word`` stays a possible password.
_REFERENCE = _lazy(r"\$(?:\{[^}]*\}?|\([^)]*\)?|[A-Z_][A-Z0-9_]*)")


#: A value that is a file's path (``~/.config/gcloud/credentials.json``): where a secret is,
#: not the secret. Two segments at least and no ``+``/``=``, so base64 is not taken for one.
_PATH_VALUE = _lazy(r"(?:~|\.\.?)?/(?:[\w.-]+/)+[\w.-]+")


def _is_reference(value: str) -> bool:
    if value[:1] == "$":
        return _REFERENCE.fullmatch(value) is not None
    return value[:1] in "~./" and _PATH_VALUE.fullmatch(value) is not None


def _pem(m: re.Match[str]) -> str:
    body, end = m.group(4), m.group(5) or ""
    if not body.strip():
        return m.group(0)
    edges = _PEM_EDGES.match(body)
    lead, trail = (edges.group(1), edges.group(3)) if edges else ("", "")
    return f"{m.group(1)}{lead or ' '}{MASK}{trail or (' ' if end else '')}{end}"


def _auth(m: re.Match[str]) -> str:
    name, sep, quote = m.group(1), m.group(2), m.group(3) or ""
    value = m.group(4) if m.group(4) is not None else m.group(5)
    scheme = _SCHEME.match(value.strip()) if name.lower().endswith("authorization") else None
    if _is_reference((scheme.group(3) if scheme else value).strip()):
        return m.group(0)
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
    if _is_reference(value[1:-1] if quote else value):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{quote}{MASK}{quote}"


def _hidden_value(m: re.Match[str]) -> str:
    quote, name, sep, value = m.group(1), m.group(2), m.group(3), m.group(4)
    vquote = value[0] if value[:1] in "\"'" else ""
    inner = value[1:-1] if vquote else value
    if not vquote and inner.lower() in _LITERAL_VALUES:
        return m.group(0)
    if not vquote and quote == '"':
        vquote = '"'  # keep a JSON document valid: "password": 123 -> "password": "***"
    if inner == MASK or _is_reference(inner):
        return m.group(0)
    return f"{quote}{name}{quote}{sep}{vquote}{MASK}{vquote}"


def _pair(m: re.Match[str]) -> str:
    if _HARMLESS_KEY.search(m.group(2)):
        return m.group(0)
    return _hidden_value(m)


def _named(m: re.Match[str]) -> str:
    name = m.group(2).lower().lstrip("-")
    value = m.group(4).strip("\"'")
    if not value:
        return m.group(0)
    if name.endswith("pwd") and value[:1] in "/~$":
        return m.group(0)  # PWD=/root is a directory
    if name == "pwd" and not (m.string[: m.start()].rstrip().endswith(";")
                              or m.string[m.end():].startswith(";")):
        return m.group(0)  # pwd=sub: a directory; Pwd= in an ODBC string (a;b;Pwd=x) is not
    if (name.endswith("auth") or name.startswith("sig")) and not _RANDOMISH.fullmatch(value):
        return m.group(0)  # auth=ok, sig=none: no credential
    if name == "pass" and value.isdigit():
        return m.group(0)  # pass=10 fail=2: a test count
    return _hidden_value(m)


def _command_value(m: re.Match[str]) -> str:
    value = m.group(2)
    quote = value[0] if value[:1] in "\"'" else ""
    if _is_reference(value[1:-1] if quote else value):
        return m.group(0)
    return f"{m.group(1)}{quote}{MASK}{quote}"


def _commands(line: str, low: str) -> str:
    for hint, pattern in _COMMANDS:
        if hint in low:
            line = pattern.sub(_command_value, line)
    return line


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
            import urllib.parse  # (milliseconds: only for explicit secret values)

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
        """``text`` with every secret replaced by ``***``; labels are kept.

        Text of several lines is redacted with a stream's state across its lines.
        """
        if not text:
            return text
        if self._literals is not None:
            text = self._literals.sub(MASK, text)
        if "\n" in text:
            stream = StreamRedactor(self)
            return "\n".join([stream.next_known(part) for part in text.split("\n")])
        return self.redact_known(text)[0]

    def redact_known(self, line: str) -> tuple[str, bool]:
        """One line redacted by pattern only (no literal values, no state).

        Returns the line and whether it held an AWS access key id (a stream then hides a
        secret key on the next lines too).
        """
        low = line.lower()
        words = _word_hint(low)
        url = "://" in line
        cmd = " -" in line and _command_hint(low)
        tokens = may_hold_token(line)
        if not (words or url or cmd or tokens):
            return line, False
        if "BEGIN" in line:
            line = _PEM.sub(_pem, line)
        if url:
            line = _URL_CREDS.sub(rf"\1{MASK}\3", line)
        if words:
            # each pattern only where the line holds what it needs (a secret word in a
            # value, "API_KEY", would otherwise run them all on every line)
            if "authorization" in low or "cookie" in low:
                line = _AUTH_HEADER.sub(_auth, line)
            if "bearer" in low:
                line = _BEARER.sub(_bearer, line)
            if _FLAG_HINT.search(low) is not None:
                line = _FLAG.sub(_flag, line)
            if _PAIR_HINT.search(low) is not None:
                line = _PAIR.sub(_pair, line)
            if _NAMED_HINT.search(low) is not None:
                line = _NAMED.sub(_named, line)
            if "machine" in line:
                line = _NETRC.sub(rf"\1{MASK}", line)
        if cmd:
            line = _commands(line, low)
        aws = False
        if tokens:
            if AWS_ID.search(line) is not None:
                aws = True
                line = AWS_SECRET.sub(MASK, line)
            line = hide_tokens(line)
        return line, aws

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

    @property
    def has_literals(self) -> bool:
        """Whether there are explicit or environment secret values to hide."""
        return self._literals is not None

    def literal_sub(self, line: str) -> str:
        """``line`` with the explicit and environment secret values hidden."""
        return self._literals.sub(MASK, line) if self._literals is not None else line


#: fragments (lower case) of every gate ``redact_known`` opens on but the secret words:
#: URLs, command lines, header and PEM names, ``.netrc``, token hints
_PIECE_FRAGMENTS = ("://", "mysql", "mariadb", "curl", "login", "mongo", "redis-cli",
                    "sshpass", "authorization", "cookie", "bearer", "machine", "begin",
                    "dapi", "4b1d", "hook")


def piece_is_inert(piece: str) -> bool:
    """Whether ``redact_known`` leaves alone any line made of inert pieces.

    A line ``p1 + " " + p2 + " " + ...`` (or pieces joined by ``=``) whose pieces are all
    inert, where no piece after the first starts with whitespace, ``:`` or ``=``, and
    that holds no newline, is returned by ``redact_known`` as it is: no piece holds a
    fragment of a gate that runs a pattern across the line (URL, command, header, PEM,
    ``.netrc``, token), nor a token gate match (none crosses a space or ``=``); a secret
    word may be there only where none of the name-based patterns' hints matches (those
    hints cross a joining space only into a piece starting with ``:``, ``=`` or
    whitespace, or, for the flag hint, end with the space: checked here)."""
    if "\n" in piece:
        return False
    low = piece.lower()
    for fragment in _PIECE_FRAGMENTS:
        if fragment in low:
            return False
    if may_hold_token(piece) or _TOKEN_GATE.search(piece) is not None:
        return False
    return not _word_hint(low) or (
        _FLAG_HINT.search(low + " ") is None and _PAIR_HINT.search(low) is None
        and _NAMED_HINT.search(low) is None)


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
