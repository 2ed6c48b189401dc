"""Markdown -> ``Runbook``, with markdown-it-py's block tokens and their line maps.

- Headings become sections; their slugs are GitHub anchors (unique, ``-1``, ``-2``...).
- Every fenced block becomes a step (``section-slug/N``, or its ``name=`` annotation),
  except blocks of expected output, attached to the step before (see ``expect``).
- Code spans in the Command column of a table become steps (``section-slug/table-N``).
- ``- [ ]`` / ``- [x]`` items become checklist items (``section-slug/check-N``).
- Unreadable input raises ``RunbookError`` (``FILE:LINE: what``): a missing file, binary
  data (NUL bytes, or mostly undecodable bytes). Anything else parses as well as it can,
  with file-level findings in ``Runbook.problems`` (unclosed fences, invalid UTF-8
  replaced, bad annotations, an empty file). Only block-level Markdown is parsed for the
  whole file (a 5 MB file takes a couple of seconds); inline Markdown only for headings.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from cockpit.core.durations import parse_duration
from cockpit.core.runbooks.body import SourceLine, build_body
from cockpit.core.runbooks.controls import control_findings
from cockpit.core.runbooks.danger import LEVELS, assess, control_hit, python_hits, shell_hits
from cockpit.core.runbooks.expect import OUTPUT_LANGUAGES, comment_expectations, is_label
from cockpit.core.runbooks.fence import (
    KNOWN_KEYS,
    SHELLS,
    not_runnable_reason,
    split_info,
    valid_name,
)
from cockpit.core.runbooks.foreign import powershell_hits, windows_only, windows_reason
from cockpit.core.runbooks.model import (
    ChecklistItem,
    Expectation,
    Finding,
    Repair,
    Runbook,
    RunbookError,
    Section,
    Step,
)
from cockpit.core.runbooks.placeholders import (
    DASH_ANNOTATION,
    dash_allowed,
    find_placeholders,
    neutralize,
)
from cockpit.core.runbooks.shell import assigned_names, lex

_TASK = re.compile(r"^\[([ xX])\][ \t]+(.*)", re.S)
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_FENCE_LINE = re.compile(r"^[\s>]*(`{3,}|~{3,})\s*$")
_COMMAND_HEADERS = ("command", "commands", "cmd")
_MARKUP = re.compile(r"[*_`\[\]<>&\\!~]")
#: Longer blocks are shown but not analysed or run (a runbook step is never this long).
MAX_BLOCK_LINES = 5000


@lru_cache(maxsize=1)
def _block_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.core.ruler.disable(["inline", "text_join"], ignoreInvalid=True)
    return md


@lru_cache(maxsize=1)
def _inline_parser() -> MarkdownIt:
    return MarkdownIt("commonmark")


def parse_runbook(
    path: str | Path, *, which: Callable[[str], str | None] = shutil.which
) -> Runbook:
    """Read and parse a Markdown runbook; ``RunbookError`` when it cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RunbookError([f"{path}:1: no such file"]) from None
    except IsADirectoryError:
        raise RunbookError([f"{path}:1: is a directory, not a Markdown file"]) from None
    except OSError as exc:
        raise RunbookError([f"{path}:1: cannot read: {exc.strerror or exc}"]) from None
    return parse_bytes(data, path, which=which)


def parse_bytes(
    data: bytes, path: str | Path, *, which: Callable[[str], str | None] = shutil.which
) -> Runbook:
    """Decode and parse; binary data is refused, invalid UTF-8 replaced and reported."""
    path = Path(path)
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise RunbookError(
            [f"{path}:{line}: binary data, not a Markdown runbook (NUL byte at offset {nul})"]
        )
    problems: list[Finding] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        if bad > max(16, len(text) // 10):
            line = data.count(b"\n", 0, exc.start) + 1
            raise RunbookError(
                [f"{path}:{line}: not UTF-8 text ({bad} undecodable bytes): not a Markdown runbook"]
            ) from None
        problems.append(
            Finding(
                data.count(b"\n", 0, exc.start) + 1,
                "invalid-utf8",
                f"{bad} byte(s) that are not UTF-8 read as U+FFFD (first at byte {exc.start})",
            )
        )
    return parse_text(text, path, which=which, problems=problems)


def parse_text(
    text: str,
    path: str | Path = "<runbook>",
    *,
    which: Callable[[str], str | None] = shutil.which,
    problems: list[Finding] | None = None,
) -> Runbook:
    """Parse Markdown text (``path`` names it in ids, messages and the audit trail)."""
    return _Parser(text, Path(path), which, list(problems or [])).run()


def github_slug(title: str) -> str:
    """GitHub's heading anchor: lower-case, punctuation dropped, spaces to ``-``."""
    slug = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return slug.replace(" ", "-")


def _plain_inline(content: str) -> str:
    """Text of inline Markdown (a heading): markup dropped, code spans kept."""
    if not _MARKUP.search(content):
        return content
    tokens = _inline_parser().parseInline(content)
    out: list[str] = []
    for token in tokens:
        for child in token.children or []:
            if child.type in ("text", "code_inline", "html_inline"):
                out.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                out.append(" ")
            elif child.type == "image":
                out.append(child.content)
    return "".join(out)


class _Parser:
    def __init__(
        self, text: str, path: Path, which: Callable[[str], str | None], problems: list[Finding]
    ) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]
        raw_lines = text.split("\n")
        self.crlf = {k for k, line in enumerate(raw_lines) if line.endswith("\r")}
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.lines = self.text.split("\n")
        self.path = path
        self.which = which
        self.problems = problems
        self.root = Section(path.name, "top", 0, 1, ("top",))
        self.root_used = False
        self.sections: list[Section] = []
        self.stack: list[Section] = []
        self.current = self.root
        self.slugs: dict[str, int] = {"top": 1}
        self.steps: list[Step] = []
        self.checklist: list[ChecklistItem] = []
        self.counters: dict[str, int] = {}
        self.names: set[str] = set()
        self.assigned: set[str] = set()
        self.prev_kind = ""
        self.prev_paragraph = ""
        self.prev_step: Step | None = None  #: a step that is the block right before
        self.title = ""

    # -- driver -----------------------------------------------------------------------

    def run(self) -> Runbook:
        if not self.text.strip():
            self.problems.append(Finding(1, "empty", "the file is empty: nothing to show or run"))
        tokens = _block_parser().parse(self.text)
        pending_task = False
        i = 0
        while i < len(tokens):
            token = tokens[i]
            kind = token.type
            if kind == "heading_open":
                self.heading(token, tokens[i + 1])
                i += 3
                continue
            if kind == "list_item_open":
                pending_task = True
                self.prev_kind = "other"
            elif kind == "paragraph_open":
                content = tokens[i + 1].content
                if pending_task and (m := _TASK.match(content)):
                    self.task(token, m)
                pending_task = False
                self.prev_kind = "paragraph"
                self.prev_paragraph = content
                i += 3
                continue
            elif kind == "fence":
                self.fence(token)
            elif kind == "table_open":
                i = self.table(tokens, i)
                self.prev_kind = "other"
            elif kind.endswith("_open") or kind in ("hr", "html_block", "code_block"):
                self.prev_kind = "other"
                pending_task = False
            i += 1
        sections = ([self.root] if self.root_used else []) + self.sections
        return Runbook(
            path=self.path,
            title=self.title or self.path.stem,
            sections=sections,
            steps=self.steps,
            checklist=self.checklist,
            problems=sorted(self.problems, key=lambda f: f.line),
        )

    # -- headings ---------------------------------------------------------------------

    def heading(self, token: Token, inline: Token) -> None:
        level = int(token.tag[1:])
        title = _plain_inline(inline.content).strip()
        base = github_slug(title) or "section"
        n = self.slugs.get(base, 0)
        slug = base if n == 0 else f"{base}-{n}"
        while slug in self.slugs and n:
            n += 1
            slug = f"{base}-{n}"
        self.slugs[base] = n + 1
        self.slugs.setdefault(slug, 1)
        while self.stack and self.stack[-1].level >= level:
            self.stack.pop()
        path = (*(s.slug for s in self.stack), slug)
        line = token.map[0] + 1 if token.map else 1
        section = Section(title, slug, level, line, path)
        self.stack.append(section)
        self.sections.append(section)
        self.current = section
        if level == 1 and not self.title:
            self.title = title
        self.prev_kind = "heading"
        self.prev_step = None

    def _section(self) -> Section:
        if self.current is self.root:
            self.root_used = True
        return self.current

    def _next(self, prefix: str) -> int:
        key = f"{self.current.slug}\x00{prefix}"
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    # -- checklist --------------------------------------------------------------------

    def task(self, token: Token, m: re.Match[str]) -> None:
        n = self._next("check")
        section = self._section()
        text = " ".join(m.group(2).split())
        line = token.map[0] + 1 if token.map else 1
        self.checklist.append(
            ChecklistItem(f"{section.slug}/check-{n}", section, text, line, m.group(1) != " ")
        )

    # -- fenced blocks ----------------------------------------------------------------

    def _source_lines(self, first: int, content: str) -> list[SourceLine]:
        """(file line, column offset, text) for each line of a block's content."""
        texts = content.split("\n")
        if texts and texts[-1] == "":
            texts.pop()
        out = []
        for k, text in enumerate(texts):
            number = first + k
            raw = self.lines[number - 1] if 0 < number <= len(self.lines) else text
            offset = len(raw) - len(text) if raw.endswith(text) else 0
            out.append((number, offset, text))
        return out

    def _info_line(self, token: Token, line: int) -> SourceLine:
        """The fence's info string as a source line (control characters hide there too)."""
        raw = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return line, max(raw.find(token.info), 0), token.info

    def _closed(self, token: Token) -> bool:
        if not token.map:
            return True
        last = token.map[1] - 1
        if last <= token.map[0] or last >= len(self.lines):
            return False
        m = _FENCE_LINE.match(self.lines[last])
        return bool(m) and m.group(1)[0] == token.markup[0] and len(m.group(1)) >= len(token.markup)

    def fence(self, token: Token) -> None:
        language, attrs, attr_problem = split_info(token.info)
        start = token.map[0] if token.map else 0
        line = start + 1
        unclosed = not self._closed(token)
        content = token.content
        previous = self.prev_step
        before = self.prev_kind
        paragraph = self.prev_paragraph if before == "paragraph" else ""
        self.prev_kind = "fence"
        self.prev_step = None
        if not unclosed and previous is not None and not attrs:
            label = before == "paragraph" and is_label(paragraph)
            expect_lang = not_runnable_reason(language, self.which) != ""
            right_after = before == "fence" and language in OUTPUT_LANGUAGES
            if (label and expect_lang) or right_after:
                previous.expectations.append(
                    Expectation(content.rstrip("\n"), line, "block", language)
                )
                self.problems += control_findings(
                    [self._info_line(token, line), *self._source_lines(line + 1, content)]
                )
                return
        step = self.make_step(
            kind="block",
            language=language,
            info=token.info.strip(),
            line=line,
            end_line=token.map[1] if token.map else line,
            source_lines=self._source_lines(line + 1, content),
            source=content.rstrip("\n"),
            attrs=attrs,
            unclosed=unclosed,
            context_text=paragraph,
        )
        if attr_problem:
            self.problems.append(Finding(line, "annotation", attr_problem))
        self.problems += control_findings([self._info_line(token, line)])
        if unclosed:
            self.problems.append(
                Finding(
                    line,
                    "unclosed-fence",
                    f"the {token.markup} fence opened here is never closed: the block "
                    "runs to the end of the file (or of its list) and will not run",
                )
            )
        if step.runnable:
            self.prev_step = step

    def make_step(
        self,
        *,
        kind: str,
        language: str,
        info: str,
        line: int,
        end_line: int,
        source_lines: list[SourceLine],
        source: str,
        attrs: dict[str, str],
        unclosed: bool = False,
        context_text: str = "",
        prefix: str = "",
    ) -> Step:
        section = self._section()
        n = self._next(prefix or "block")
        step_id = f"{section.slug}/{prefix}{n}"
        name = attrs.get("name") or attrs.get("id")
        if name:
            if not valid_name(name):
                self.problems.append(
                    Finding(
                        line,
                        "annotation",
                        f"name={name!r}: use letters, digits, '.', '_' or '-' (no '/')",
                    )
                )
            elif name in self.names:
                self.problems.append(
                    Finding(line, "annotation", f"name={name!r} is used by an earlier step")
                )
            else:
                step_id = name
                self.names.add(name)
        for key in attrs:
            if key not in KNOWN_KEYS:
                self.problems.append(
                    Finding(line, "annotation", f"unknown annotation {key!r} (ignored)")
                )
        annotated = attrs.get("danger")
        if annotated is not None and annotated not in LEVELS:
            self.problems.append(
                Finding(
                    line,
                    "annotation",
                    f"danger={annotated!r}: must be safe, caution or dangerous (ignored)",
                )
            )
            annotated = None
        if "timeout" in attrs:
            try:
                parse_duration(attrs["timeout"])
            except ValueError as exc:
                self.problems.append(Finding(line, "annotation", f"timeout: {exc} (ignored)"))
                attrs = {k: v for k, v in attrs.items() if k != "timeout"}

        self.problems += control_findings(source_lines)
        body = build_body(source_lines if len(source_lines) <= MAX_BLOCK_LINES else [], language)
        reason = not_runnable_reason(language, self.which)
        if unclosed:
            reason = f"the fence opened at line {line} is never closed"
        elif not reason and not body.command.strip() and len(source_lines) <= MAX_BLOCK_LINES:
            reason = (
                "console block without a '$ ' prompt: output only, nothing to run"
                if language == "console"
                else "empty block"
            )
        repairs = list(body.repairs)
        crlf = [n for n, _, _ in source_lines if n - 1 in self.crlf]
        if crlf and language in (*SHELLS, "python"):
            repairs.insert(
                0, Repair(crlf[0], 1, "crlf", f"CRLF line endings ({len(crlf)} lines)", "LF")
            )
        step = Step(
            id=step_id,
            index=len(self.steps),
            kind=kind,  # type: ignore[arg-type]
            language=language,
            info=info,
            section=section,
            line=line,
            end_line=end_line,
            source=source,
            command=body.command,
            command_lines=body.lines,
            runnable=not reason,
            reason=reason,
            annotations=attrs,
            repairs=repairs,
            expectations=list(body.outputs),
            unclosed=unclosed,
            notes=list(body.notes),
        )
        if len(source_lines) > MAX_BLOCK_LINES:
            step.runnable = False
            step.reason = (
                f"a block of {len(source_lines)} lines is too large to analyse "
                f"(limit {MAX_BLOCK_LINES}); split it"
            )
            step.danger = assess([], annotated)
        elif language in SHELLS:
            neutral = neutralize(body.command)
            lexed = lex(neutral)
            here = assigned_names(lexed)
            step.danger = assess(
                control_hit(body.command, body.lines) + shell_hits(lexed, body.lines), annotated
            )
            windows = windows_only(neutral, lexed)
            if windows is not None and step.runnable:
                step.runnable = False
                step.reason = windows_reason(windows[0], step.line_of(windows[1]))
            step.placeholders = find_placeholders(
                body.command,
                lexed,
                body.lines,
                context_text=context_text,
                assigned_before=self.assigned,
                assigned_here=here,
            )
            self.assigned |= here
            unknown = dash_allowed(attrs) - {p.name for p in step.placeholders}
            if unknown:
                self.problems.append(
                    Finding(
                        line,
                        "annotation",
                        f"{DASH_ANNOTATION}: {', '.join(sorted(unknown))} is not a "
                        "placeholder of this step (ignored)",
                    )
                )
            step.expectations.extend(comment_expectations(body.command, body.lines))
            stuck = [
                o for p in step.placeholders for o in p.occurrences if o.context == "heredoc_quoted"
            ]
            if stuck and step.runnable:
                step.runnable = False
                step.reason = (
                    f"placeholder at line {stuck[0].line} is inside a quoted heredoc "
                    "(<<'EOF'), where no value can be substituted; edit the runbook"
                )
        elif language == "python":
            step.danger = assess(
                control_hit(body.command, body.lines) + python_hits(body.command, body.lines),
                annotated,
            )
        elif language == "powershell":
            step.danger = assess(
                control_hit(body.command, body.lines) + powershell_hits(body.command, body.lines),
                annotated,
            )
        else:
            step.danger = assess(control_hit(body.command, body.lines), annotated)
        self.steps.append(step)
        return step

    # -- tables -----------------------------------------------------------------------

    def table(self, tokens: list[Token], i: int) -> int:
        """Steps from the Command column of a table; returns the index of table_close."""
        headers: list[str] = []
        rows: list[tuple[int, list[str]]] = []
        row: list[str] | None = None
        row_line = 0
        in_head = False
        j = i + 1
        while j < len(tokens) and tokens[j].type != "table_close":
            t = tokens[j]
            if t.type == "thead_open":
                in_head = True
            elif t.type == "thead_close":
                in_head = False
            elif t.type == "tr_open":
                row = []
                row_line = t.map[0] + 1 if t.map else 0
            elif t.type == "tr_close" and row is not None:
                if not in_head:
                    rows.append((row_line, row))
                row = None
            elif t.type == "inline" and row is not None:
                if in_head:
                    headers.append(re.sub(r"[*_`]", "", t.content).strip().lower())
                else:
                    row.append(t.content)
            j += 1
        columns = [k for k, h in enumerate(headers) if h in _COMMAND_HEADERS]
        for row_line, cells in rows:
            for k in columns:
                if k >= len(cells):
                    continue
                for m in _CODE_SPAN.finditer(cells[k]):
                    code = m.group(2)
                    if code.startswith(" ") and code.endswith(" ") and code.strip():
                        code = code[1:-1]
                    raw = self.lines[row_line - 1] if 0 < row_line <= len(self.lines) else ""
                    col = raw.find(code.replace("|", "\\|"))
                    col = raw.find(code) if col < 0 else col
                    self.make_step(
                        kind="table",
                        language="shell",
                        info="",
                        line=row_line,
                        end_line=row_line,
                        source_lines=[(row_line, max(col, 0), code)],
                        source=code,
                        attrs={},
                        prefix="table-",
                    )
        self.prev_step = None
        return j
