"""Placeholders in steps become parameters, passed as environment variables.

Found in shell steps (never in comments):
- ``<PID>``, ``<your-project>``: angle placeholders;
- ``{update_id}``: brace placeholders, outside quotes or as a path segment in double
  quotes (never ``${VAR}``, ``%{time_total}``, jq/awk programs in single quotes, brace
  expansions ``{a,b}``);
- ``PROJECT_ID``-style capitals outside quotes: with a placeholder suffix (``_ID``,
  ``_URL``, ``_IMAGE``...), a placeholder noun (``NAMESPACE``, ``REGISTRY``...), in a
  URL or path (``https://SERVICE_URL/health``), or named by nearby text that says to
  adjust, replace or set it; never ``X=...``, ``$X``, nor a variable name given to
  ``export``/``unset``/``read``;
- ``YYYYMMDD_HHMMSS``-style date templates;
- ``$VAR``/``${VAR}`` that the step and the earlier steps never assign and that has no
  default (``${VAR:-x}``). Whether the profile or the environment defines it is
  decided when the step runs (``missing_params``).

``substitute`` replaces each token with a reference to ``COCKPIT_P_<NAME>``, quoted for
where it sits: ``"${COCKPIT_P_PID}"`` in code, ``${COCKPIT_P_PID}`` inside double
quotes, ``'"${COCKPIT_P_PID}"'`` inside single quotes (such params only accept
``SAFE_VALUE`` characters: a single-quoted string is often a program for something
else, ``jq`` or ``watch``). Values reach the step only through the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from cockpit.core.runbooks.model import Context, Occurrence, Placeholder
from cockpit.core.runbooks.shell import Lexed, assigned_names, strip_keywords

#: What a param used inside single quotes may hold: nothing any parser reinterprets.
SAFE_VALUE = r"[A-Za-z0-9_.:/@+=,%~-]*"
_ANGLE = re.compile(r"(?<!<)<([A-Za-z][A-Za-z0-9_.-]*)>(?!>)")
_BRACE = re.compile(r"(?<![$%{\w])\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_CAPS = re.compile(r"(?<![\w$])[A-Z][A-Z0-9_]*[A-Z0-9](?![\w])")
_DATE = re.compile(
    r"(?<![A-Za-z0-9])(?:YYYY|YY)[-_/.]?MM[-_/.]?DD(?:[-_T]?HH[:_-]?MM(?:[:_-]?SS)?)?(?![A-Za-z0-9])"
)
_SUFFIXES = ("_ID", "_URL", "_URI", "_NAME", "_IMAGE", "_HOST", "_HOSTNAME", "_PORT",
             "_REGION", "_ZONE", "_PROJECT", "_BUCKET", "_NAMESPACE", "_CLUSTER", "_TOKEN",
             "_VERSION", "_TAG", "_PATH", "_DIR", "_FILE", "_USER", "_EMAIL", "_ACCOUNT",
             "_REVISION", "_SERVICE", "_DOMAIN", "_ENDPOINT", "_ADDRESS", "_IP", "_SHA",
             "_HASH", "_NUMBER", "_DATE", "_KEY")  # fmt: skip
_NOUNS = frozenset({"NAMESPACE", "PROJECT", "REGION", "ZONE", "CLUSTER", "BUCKET", "HOST",
                    "HOSTNAME", "PORT", "PID", "USERNAME", "IMAGE", "REGISTRY", "DATABASE",
                    "DOMAIN", "ENDPOINT", "TENANT", "BRANCH", "COMMIT", "SHA", "REVISION",
                    "DEPLOYMENT", "POD", "NODE", "CONTAINER"})  # fmt: skip
_ADJUST = re.compile(r"\b(adjust|replace|substitute|set|change|fill in|your|edit)\b", re.I)
_NAME_ARGS = frozenset({"export", "unset", "readonly", "local", "declare", "typeset",
                        "printenv", "read", "for", "select", "getopts"})  # fmt: skip
#: variables a shell or the cockpit provides: never parameters
BUILTIN_VARS = frozenset({
    "HOME", "PATH", "PWD", "OLDPWD", "USER", "LOGNAME", "SHELL", "HOSTNAME", "RANDOM",
    "SECONDS", "LINENO", "UID", "EUID", "PPID", "BASHPID", "BASH", "BASH_VERSION",
    "BASH_SOURCE", "BASH_LINENO", "BASH_REMATCH", "FUNCNAME", "IFS", "TERM", "LANG",
    "LC_ALL", "TMPDIR", "COLUMNS", "LINES", "SHLVL", "REPLY", "OPTARG", "OPTIND",
    "PIPESTATUS", "EPOCHSECONDS", "EPOCHREALTIME", "HOSTTYPE", "OSTYPE", "MACHTYPE",
    "DIRSTACK", "GROUPS", "MAPFILE", "HISTFILE", "PS1", "PS2", "PS4", "EDITOR", "PAGER",
    "COCKPIT_TRACE_ID", "COCKPIT_ACTION", "COCKPIT_PROFILE", "COCKPIT_EXEC_ID",
    "COCKPIT_RUNBOOK_ENV",
})  # fmt: skip


def neutralize(command: str) -> str:
    """``command`` with ``<NAME>`` placeholders made plain words of the same length
    (``_NAME_``), so that lexing does not read them as redirections."""
    return _ANGLE.sub(lambda m: f"_{m.group(1)}_", command)


def param_name(token: str) -> str:
    """A valid identifier for a token: ``<your-project>`` -> ``YOUR_PROJECT``."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", token.strip("<>{}$")).strip("_").upper()
    if not name:
        name = "PARAM"
    return f"P_{name}" if name[0].isdigit() else name


#: The fence annotation naming the params of a step whose value may start with ``-``.
DASH_ANNOTATION = "allow_leading_dash"


def dash_allowed(annotations: Mapping[str, str]) -> set[str]:
    """Params named by ``{allow_leading_dash=DIR,OTHER}`` (tokens such as ``<dir>`` too).

    Any other param of a step is refused a value starting with ``-``: the step's commands
    may read it as an option (``find <DIR>`` with ``-delete`` deletes).
    """
    names = re.split(r"[,\s]+", annotations.get(DASH_ANNOTATION, ""))
    return {param_name(name) for name in names if name.strip("<>{}$")}


def date_regex(template: str) -> str:
    """The values a date template accepts: ``YYYYMMDD_HHMMSS`` -> ``\\d{8}_\\d{6}``."""
    out = []
    for ch in template:
        out.append(r"\d" if ch in "YMDHS" else re.escape(ch))
    return re.sub(r"(?:\\d)+", lambda m: rf"\d{{{len(m.group()) // 2}}}", "".join(out))


def _name_arg_positions(lexed: Lexed) -> set[int]:
    """Start offsets of words that name a variable (``export X``, ``unset X``...)."""
    positions: set[int] = set()
    for cmd in lexed.commands:
        words = strip_keywords(cmd.words)
        if words and words[0].text in _NAME_ARGS:
            positions.update(w.start for w in words[1:])
    return positions


def find_placeholders(
    command: str,
    lexed: Lexed,
    lines: tuple[int, ...],
    *,
    context_text: str = "",
    assigned_before: Iterable[str] = (),
    assigned_here: set[str] | None = None,
) -> list[Placeholder]:
    """Placeholders of a shell step, in order of first appearance."""
    found: dict[tuple[str, str], list[Occurrence]] = {}
    tokens: dict[tuple[str, str], list[str]] = {}
    taken = bytearray(len(command))
    adjust_words = (
        set(re.findall(r"[A-Z][A-Z0-9_]{2,}", context_text))
        if _ADJUST.search(context_text)
        else set()
    )
    adjust_words |= _comment_adjust_words(lexed)
    name_args = _name_arg_positions(lexed)

    def line_of(pos: int) -> int:
        k = lexed.line_of(pos)
        return lines[k] if 0 <= k < len(lines) else (lines[-1] if lines else 0)

    def add(kind: str, token: str, start: int, end: int, context: str) -> None:
        key = (kind, param_name(token))
        found.setdefault(key, []).append(Occurrence(start, end, context, line_of(start)))  # type: ignore[arg-type]
        tokens.setdefault(key, [])
        if token not in tokens[key]:
            tokens[key].append(token)
        taken[start:end] = b"\x01" * (end - start)

    def free(start: int, end: int) -> bool:
        return not any(taken[start:end])

    for m in _DATE.finditer(command):
        ctx = lexed.context_at(m.start())
        if ctx != "comment":
            add("date", m.group(), m.start(), m.end(), ctx)
    for m in _ANGLE.finditer(command):
        ctx = lexed.context_at(m.start())
        if ctx != "comment" and free(m.start(), m.end()):
            add("angle", m.group(), m.start(), m.end(), ctx)
    for m in _BRACE.finditer(command):
        ctx = lexed.context_at(m.start())
        before = command[m.start() - 1] if m.start() else ""
        ok = ctx == "code" or (ctx == "double" and before in "/=:@")
        if ok and free(m.start(), m.end()):
            add("brace", m.group(), m.start(), m.end(), ctx)
    for m in _CAPS.finditer(command):
        token, start, end = m.group(), m.start(), m.end()
        if not free(start, end) or start in name_args:
            continue
        before = command[start - 1] if start else ""
        after = command[end] if end < len(command) else ""
        if (before and before in "{-.") or (after and after in "=("):
            continue
        ctx = lexed.context_at(start)
        in_path = before in "/@" or after == "/" or command[max(0, start - 3) : start] == "://"
        named = token in adjust_words
        in_path = in_path and ("_" in token or len(token) >= 3)
        if ctx == "code":
            ok = named or in_path or token.endswith(_SUFFIXES) or token in _NOUNS
        elif ctx in ("double", "heredoc"):
            ok = named or in_path
        else:
            ok = False
        if ok:
            add("caps", token, start, end, ctx)

    here = assigned_names(lexed) if assigned_here is None else assigned_here
    assigned = set(assigned_before) | here
    env_seen: dict[str, int] = {}
    for use in lexed.var_uses:
        if use.has_default or use.name in assigned or use.name in BUILTIN_VARS:
            continue
        env_seen.setdefault(use.name, line_of(use.start))

    result: list[Placeholder] = []
    used_names: set[str] = set()
    for (kind, name), occurrences in found.items():
        restricted = any(o.context in ("single", "ansi") for o in occurrences)
        toks = tuple(tokens[(kind, name)])
        result.append(
            Placeholder(
                name=_unique(name, used_names),
                kind=kind,  # type: ignore[arg-type]
                tokens=toks,
                line=occurrences[0].line,
                description=_describe(kind, toks),
                occurrences=tuple(occurrences),
                restricted=restricted,
            )
        )
    for name, line in env_seen.items():
        result.append(
            Placeholder(
                name=_unique(name, used_names),
                kind="env",
                tokens=(f"${name}",),
                line=line,
                description=f"${name}: used here, set neither by the runbook's steps "
                "nor by the profile or the environment",
            )
        )
    result.sort(key=lambda p: p.line)
    return result


def _comment_adjust_words(lexed: Lexed) -> set[str]:
    """Capitalised words named in comments that say to adjust or replace them."""
    words: set[str] = set()
    for span in lexed.spans:
        if span.kind == "comment":
            text = lexed.text[span.start : span.end]
            if _ADJUST.search(text):
                words.update(re.findall(r"[A-Z][A-Z0-9_]{2,}", text))
    return words


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}_{n}", n + 1
    used.add(candidate)
    return candidate


def _describe(kind: str, tokens: tuple[str, ...]) -> str:
    shown = ", ".join(tokens)
    if kind == "date":
        return f"{shown}: a date/time written in that form"
    if kind == "caps":
        return f"{shown}: a placeholder to replace"
    return f"replaces {shown}"


def substitute(command: str, placeholders: Iterable[Placeholder]) -> str:
    """``command`` with every placeholder token replaced by its env var, quoted for its place.

    Raises ``ValueError`` for a token inside a quoted heredoc (nothing can expand there).
    """
    edits: list[tuple[int, int, str]] = []
    for p in placeholders:
        for occ in p.occurrences:
            edits.append((occ.start, occ.end, _reference(p.env_name, occ.context, occ.line)))
    out = command
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[end:]
    return out


def _reference(env: str, context: Context, line: int) -> str:
    if context == "code":
        return f'"${{{env}}}"'
    if context in ("double", "heredoc"):
        return f"${{{env}}}"
    if context == "single":
        return f"'\"${{{env}}}\"'"
    if context == "ansi":
        return f"'\"${{{env}}}\"$'"
    raise ValueError(f"line {line}: a placeholder inside a quoted heredoc cannot be substituted")


def missing_params(
    placeholders: Iterable[Placeholder], env: Mapping[str, str]
) -> list[Placeholder]:
    """The placeholders that need a value: ``$VARS`` defined in ``env`` are left out."""
    return [p for p in placeholders if p.kind != "env" or p.name not in env]
