"""A small, forgiving lexer for the shell text of runbook steps.

It does not execute or fully parse bash; it finds what the analyses need:
- simple commands (words with quotes removed, redirections, heredoc bodies), with
  ``$(...)``, backticks and subshells lexed as commands of their own;
- spans of quoted text, comments, heredoc bodies and command substitutions, so a
  position can be told apart (inside single quotes, a comment, a quoted heredoc...);
- uses of ``$VAR`` / ``${VAR...}`` outside single quotes and quoted heredocs.
Unbalanced quotes run to the end of the text; nothing raises on malformed input.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

_PLAIN = re.compile(r"[^\s\\'\"$`#;&|()<>]+")
_DQ_PLAIN = re.compile(r"[^\"\\$`]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEREDOC_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_MAX_DEPTH = 40
#: ``${X<op>...}`` operators that supply a value when X is unset.
_DEFAULT_OPS = (":-", ":=", ":+", "-", "=", "+")
KEYWORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "case", "esac",
     "in", "!", "{", "}", "time", "function", "select", "for", "[[", "]]"}
)  # fmt: skip


@dataclass(slots=True)
class Word:
    text: str  #: quotes removed, escapes resolved, expansions kept as written
    start: int
    end: int
    line: int  #: 0-based line of the text
    quoted: bool = False


@dataclass(slots=True)
class Redirect:
    op: str
    fd: str
    target: str
    line: int


@dataclass(slots=True)
class Heredoc:
    delimiter: str
    quoted: bool
    strip_tabs: bool
    body: str = ""
    line: int = 0


@dataclass(slots=True)
class Command:
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)
    line: int = 0


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: str  #: single, double, ansi, comment, heredoc, heredoc_quoted, subst


@dataclass(frozen=True, slots=True)
class VarUse:
    name: str
    start: int
    line: int
    has_default: bool  #: ``${X:-...}`` and friends: never unset


@dataclass
class Lexed:
    text: str
    commands: list[Command]
    spans: list[Span]
    var_uses: list[VarUse]
    line_starts: list[int]
    _starts: list[int] | None = None
    _parents: list[int] | None = None

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos) - 1

    def context_at(self, pos: int) -> str:
        """The innermost span kind holding ``pos``: ``code`` outside any span.

        Spans nest or are disjoint, so the innermost one holding ``pos`` is the one
        starting last at or before it.
        """
        if self._starts is None:
            self._index()
        assert self._starts is not None and self._parents is not None
        k = bisect.bisect_right(self._starts, pos) - 1
        while k >= 0 and pos >= self.spans[k].end:
            k = self._parents[k]
        return self.spans[k].kind if k >= 0 else "code"

    def _index(self) -> None:
        """Sort spans and link each to the innermost span enclosing it."""
        self.spans.sort(key=lambda span: (span.start, -span.end))
        self._starts = [span.start for span in self.spans]
        self._parents = []
        stack: list[int] = []
        for k, span in enumerate(self.spans):
            while stack and self.spans[stack[-1]].end <= span.start:
                stack.pop()
            self._parents.append(stack[-1] if stack else -1)
            stack.append(k)


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.commands: list[Command] = []
        self.spans: list[Span] = []
        self.var_uses: list[VarUse] = []
        self.pending: list[Heredoc] = []

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos) - 1

    # -- lists of commands ---------------------------------------------------------------

    def parse_list(self, stop: str | None, depth: int) -> None:
        """Lex commands until ``stop`` (``)`` or a backtick) or the end of the text."""
        s = self.s
        cmd = Command(line=self.line(self.i))
        word: list[str] = []
        wstart = -1
        quoted = False
        redirect: tuple[str, str] | None = None

        def finish_word() -> None:
            nonlocal word, wstart, quoted, redirect
            if wstart < 0:
                return
            text = "".join(word)
            if redirect is not None:
                op, fd = redirect
                redirect = None
                if op in ("<<", "<<-"):
                    doc = Heredoc(text, quoted, op == "<<-", line=self.line(wstart))
                    cmd.heredocs.append(doc)
                    self.pending.append(doc)
                cmd.redirects.append(Redirect(op, fd, text, self.line(wstart)))
            else:
                cmd.words.append(Word(text, wstart, self.i, self.line(wstart), quoted))
            word, wstart, quoted = [], -1, False

        def finish_command() -> None:
            nonlocal cmd, redirect
            finish_word()
            redirect = None
            if cmd.words or cmd.redirects:
                self.commands.append(cmd)
            cmd = Command(line=self.line(self.i))

        def start_word() -> None:
            nonlocal wstart
            if wstart < 0:
                wstart = self.i
                if not cmd.words and not cmd.redirects:
                    cmd.line = self.line(self.i)

        while self.i < self.n:
            c = s[self.i]
            if stop is not None and c == stop:
                finish_command()
                self.i += 1
                return
            m = _PLAIN.match(s, self.i)
            if m:
                start_word()
                word.append(m.group())
                self.i = m.end()
                continue
            if c in " \t\r":
                finish_word()
                self.i += 1
            elif c == "\n":
                finish_command()
                self.i += 1
                self.read_heredocs()
            elif c == "\\":
                if self.i + 1 < self.n and s[self.i + 1] == "\n":
                    self.i += 2
                    continue
                start_word()
                word.append(s[self.i + 1 : self.i + 2])
                quoted = True
                self.i += 2
            elif c == "#" and wstart < 0:
                end = s.find("\n", self.i)
                end = self.n if end < 0 else end
                self.spans.append(Span(self.i, end, "comment"))
                self.i = end
            elif c == "'":
                start_word()
                end = s.find("'", self.i + 1)
                end = self.n if end < 0 else end
                self.spans.append(Span(self.i, min(end + 1, self.n), "single"))
                word.append(s[self.i + 1 : end])
                quoted = True
                self.i = end + 1
            elif c == '"':
                start_word()
                word.append(self.parse_double(depth))
                quoted = True
            elif c == "$":
                start_word()
                if s.startswith("$'", self.i):
                    word.append(self.parse_ansi())
                    quoted = True
                else:
                    word.append(self.parse_dollar(depth))
            elif c == "`":
                start_word()
                word.append(self.parse_nested(self.i, 1, "`", depth))
            elif c in "<>" or (c == "&" and s.startswith(">", self.i + 1)):
                fd = ""
                if (
                    wstart >= 0
                    and "".join(word).isdigit()
                    and wstart + len("".join(word)) == self.i
                ):
                    fd, word, wstart = "".join(word), [], -1
                finish_word()
                if s.startswith(("<(", ">("), self.i):
                    self.parse_nested(self.i, 2, ")", depth)
                    continue
                op = _redirect_op(s, self.i)
                self.i += len(op)
                redirect = (op, fd)
            elif c in ";&|":
                finish_command()
                self.i += 2 if s.startswith(("&&", "||", ";;", "|&"), self.i) else 1
            elif c == "(":
                if wstart >= 0 and "".join(word).endswith("="):  # arr=( ... )
                    end = _matching_paren(s, self.i)
                    word.append(s[self.i : end])
                    self.i = end
                else:
                    finish_command()
                    if depth < _MAX_DEPTH:
                        self.i += 1
                        self.parse_list(")", depth + 1)
                    else:
                        self.i += 1
            elif c == ")":
                finish_command()
                self.i += 1
            else:  # '#' inside a word
                start_word()
                word.append(c)
                self.i += 1
        finish_command()

    def parse_nested(self, start: int, skip: int, stop: str, depth: int) -> str:
        """``$(``, backticks, ``<(``: commands of their own; returns the raw text."""
        self.i = start + skip
        if depth >= _MAX_DEPTH:
            end = self.s.find(stop, self.i)
            self.i = self.n if end < 0 else end + 1
        else:
            self.parse_list(stop, depth + 1)
        self.spans.append(Span(start, self.i, "subst"))
        return self.s[start : self.i]

    def parse_double(self, depth: int) -> str:
        s = self.s
        start = self.i
        self.i += 1
        out: list[str] = []
        while self.i < self.n:
            m = _DQ_PLAIN.match(s, self.i)
            if m:
                out.append(m.group())
                self.i = m.end()
                continue
            c = s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\":
                nxt = s[self.i + 1 : self.i + 2]
                if nxt == "\n":
                    self.i += 2
                    continue
                out.append(nxt if nxt in '$`"\\' else c + nxt)
                self.i += 2
            elif c == "$":
                out.append(self.parse_dollar(depth))
            else:  # backtick
                out.append(self.parse_nested(self.i, 1, "`", depth))
        self.spans.append(Span(start, self.i, "double"))
        return "".join(out)

    def parse_ansi(self) -> str:
        s = self.s
        start = self.i
        j = self.i + 2
        while j < self.n and s[j] != "'":
            j += 2 if s[j] == "\\" else 1
        end = min(j + 1, self.n)
        self.spans.append(Span(start, end, "ansi"))
        self.i = end
        return s[start + 2 : j]

    def parse_dollar(self, depth: int) -> str:
        s = self.s
        start = self.i
        if s.startswith("$((", start):
            end = _matching_paren(s, start + 1)
            self.i = end
            return s[start:end]
        if s.startswith("$(", start):
            return self.parse_nested(start, 2, ")", depth)
        if s.startswith("${", start):
            end = _matching_brace(s, start + 1)
            inner = s[start + 2 : end - 1]
            m = _NAME.match(inner.lstrip("#!"))
            if m and not inner.startswith("!"):
                rest = inner.lstrip("#")[m.end() :]
                has_default = rest.startswith(_DEFAULT_OPS) and not rest.startswith(":?")
                self.var_uses.append(VarUse(m.group(), start, self.line(start), has_default))
            self.i = end
            return s[start:end]
        m = _NAME.match(s, start + 1)
        if m:
            self.var_uses.append(VarUse(m.group(), start, self.line(start), False))
            self.i = m.end()
            return s[start : self.i]
        self.i = min(start + 2, self.n)  # $?, $!, $1, $@, a lone $
        return s[start : self.i]

    def read_heredocs(self) -> None:
        """Read the bodies of heredocs opened on the line just ended."""
        while self.pending:
            doc = self.pending.pop(0)
            start = self.i
            pos = self.i
            while pos < self.n:
                end = self.s.find("\n", pos)
                end = self.n if end < 0 else end
                line = self.s[pos:end]
                if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delimiter:
                    doc.body = self.s[start:pos]
                    self.spans.append(
                        Span(start, pos, "heredoc_quoted" if doc.quoted else "heredoc")
                    )
                    self.i = min(end + 1, self.n)
                    break
                pos = end + 1
            else:
                doc.body = self.s[start:]
                self.spans.append(
                    Span(start, self.n, "heredoc_quoted" if doc.quoted else "heredoc")
                )
                self.i = self.n
            if not doc.quoted:
                for m in _HEREDOC_VAR.finditer(doc.body):
                    name = m.group(1) or m.group(3)
                    rest = m.group(2) or ""
                    has_default = rest.startswith(_DEFAULT_OPS) and not rest.startswith(":?")
                    pos = start + m.start()
                    self.var_uses.append(VarUse(name, pos, self.line(pos), has_default))


def _redirect_op(s: str, i: int) -> str:
    for op in ("&>>", "<<<", "<<-", "&>", ">>", ">|", ">&", "<<", "<&", "<>", ">", "<"):
        if s.startswith(op, i):
            return op
    return s[i]


def _matching_paren(s: str, i: int) -> int:
    """Index after the ``)`` closing the ``(`` at ``i`` (quotes ignored); the end if none."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(s)


def _matching_brace(s: str, i: int) -> int:
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        elif s[j] == "\n":
            return j
    return len(s)


def lex(text: str) -> Lexed:
    """Lex shell text; never raises."""
    lexer = _Lexer(text)
    lexer.parse_list(None, 0)
    lexer.read_heredocs()
    commands = sorted(lexer.commands, key=lambda c: (c.line, c.words[0].start if c.words else 0))
    return Lexed(text, commands, lexer.spans, lexer.var_uses, lexer.line_starts)


# --- what commands do --------------------------------------------------------------------

_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
_DECLARE = frozenset({"export", "local", "declare", "typeset", "readonly"})
_READ_OPTS_WITH_ARG = frozenset({"-p", "-t", "-d", "-n", "-N", "-u", "-i"})


def strip_keywords(words: list[Word]) -> list[Word]:
    """Words of a command without leading shell keywords (``if``, ``then``, ``do``...)."""
    i = 0
    while i < len(words) and not words[i].quoted and words[i].text in KEYWORDS:
        if words[i].text in ("for", "select"):
            return words[i:]
        i += 1
    return words[i:]


def assigned_names(lexed: Lexed) -> set[str]:
    """Variables a text assigns: ``X=``, ``export X``, ``read X``, ``for X in``, ..."""
    names: set[str] = set()
    for cmd in lexed.commands:
        words = strip_keywords(cmd.words)
        i = 0
        while i < len(words) and (m := _ASSIGN.match(words[i].text)):
            names.add(m.group(1))
            i += 1
        rest = [w.text for w in words[i:]]
        if not rest:
            continue
        program, args = rest[0], rest[1:]
        if program in _DECLARE:
            for arg in args:
                m = _ASSIGN.match(arg) or _NAME.fullmatch(arg)
                if m and not arg.startswith("-"):
                    names.add(m.group(1) if m.re is _ASSIGN else arg)
        elif program in ("for", "select") and args:
            if _NAME.fullmatch(args[0]):
                names.add(args[0])
        elif program == "read":
            skip = False
            for arg in args:
                if skip or arg == "-a":
                    skip = False
                elif arg in _READ_OPTS_WITH_ARG:
                    skip = True
                elif not arg.startswith("-") and _NAME.fullmatch(arg):
                    names.add(arg)
            if not any(_NAME.fullmatch(a) for a in args if not a.startswith("-")):
                names.add("REPLY")
        elif program in ("mapfile", "readarray"):
            plain = [a for a in args if _NAME.fullmatch(a)]
            names.add(plain[-1] if plain else "MAPFILE")
        elif len(args) >= 2 and (program == "getopts" or (program == "printf" and args[0] == "-v")):
            names.add(args[1])
    return names
