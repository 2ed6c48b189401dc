"""A Markdown runbook, opened as it is: the document beside its steps and checklist.

The step list follows the document: code blocks (steps) and ``- [ ]`` items in file
order, each with its state (not run, running, ok, failed, refused, skipped), language
and danger. The detail under it shows what the selected step would run (repaired
copy-paste damage, params, danger reasons), what the runbook expects, and how its last
run ended. Running goes through the app (:meth:`CockpitApp.run_runbook`): the same
forms, confirmations, Runs pane and audit trail as profile actions.

Everything shown comes through ``cockpit.core.boundary``: the document (rendered or raw),
the head, the step list, the detail and the output tail show escapes and other control
characters visibly (``\\e]0;...``), never live and never removed, with lines bounded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Static, TextArea

from cockpit.core.boundary import TEXT_LIMIT, bound, show_controls
from cockpit.core.runbooks.checklist import ChecklistStore
from cockpit.core.runbooks.model import ChecklistItem, Runbook, Section, Step
from cockpit.core.runbooks.placeholders import missing_params
from cockpit.core.runbooks.session import StepRun
from cockpit.tui.widgets.table import CellTable, spread

if TYPE_CHECKING:
    from cockpit.tui.runs import RunEntry

#: Above this size (or section count) the document is shown as raw text in a virtual
#: text area: rendering Markdown costs time in proportion to the whole document.
MARKDOWN_LIMIT = 256 * 1024
MAX_RENDERED_SECTIONS = 400
WIDE = 110  #: from this width the document and the steps are side by side

STATE = {
    "pending": ("·", "not run", "dim"),
    "running": ("▶", "running", "bold cyan"),  # Rich styles here: no $variables
    "succeeded": ("✓", "ok", "green"),
    "failed": ("✗", "failed", "bold red"),
    "timed_out": ("✗", "timed out", "bold red"),
    "error": ("✗", "error", "bold red"),
    "cancelled": ("⊘", "cancelled", "yellow"),
    "denied": ("⊘", "refused", "yellow"),
    "skipped": ("↷", "skipped", "dim"),
    "dry-run": ("≡", "dry run", "cyan"),
}
_DANGER = {"safe": ("safe", ""), "caution": ("caution", "yellow"),
           "dangerous": ("⚠ DANGER", "bold red")}
_FIXED = {"state": 9, "lang": 7, "danger": 8}


def shown(text: str) -> str:
    """One line of runbook text for the screen: controls visible, length bounded."""
    return bound(show_controls(text))


def shown_block(text: str, limit: int = TEXT_LIMIT) -> str:
    """Lines of runbook text: controls visible, line breaks kept, each line bounded."""
    lines = show_controls(text, keep_newlines=True).split("\n")
    return bound("\n".join(bound(line) for line in lines), limit)


def document_lines(text: str) -> list[str]:
    """The file's lines as the parser numbers them (CRLF and CR are line ends; no other
    character is: ``str.splitlines`` would also split at form feeds and separators)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


@dataclass
class RunbookMemory:
    """What this session did with one runbook: kept by the app, so closing and opening
    the view again (or running a step from the palette) keeps the states."""

    states: dict[str, StepRun] = field(default_factory=dict)
    last_entry: dict[str, RunEntry] = field(default_factory=dict)
    dry_runs: dict[str, str] = field(default_factory=dict)

    def record(self, run: StepRun, entry: RunEntry | None) -> None:
        if run.dry_run:
            self.dry_runs[run.step.id] = run.dry_run  # a dry run does not change the state
        else:
            self.states[run.step.id] = run
        if entry is not None:
            self.last_entry[run.step.id] = entry


class RunbookScreen(Screen[None]):
    """The runbook view: ``enter`` runs a step, ``R`` its section, ``d`` a dry run."""

    DEFAULT_CSS = """
    RunbookScreen #rb-head { height: auto; padding: 0 1; background: $panel; }
    RunbookScreen #rb-body { height: 1fr; }
    RunbookScreen #rb-doc {
        width: 1fr; border: round $panel-lighten-2; border-title-color: $text-muted;
    }
    RunbookScreen #rb-doc:focus-within { border: round $accent; }
    RunbookScreen .rb-section { padding: 0 1; }
    RunbookScreen #rb-raw { height: 1fr; border: none; }
    RunbookScreen #rb-side { width: 1fr; }
    RunbookScreen #rb-steps {
        height: 1fr; border: round $panel-lighten-2; border-title-color: $text-muted;
    }
    RunbookScreen #rb-steps:focus { border: round $accent; }
    RunbookScreen #rb-detail {
        height: 1fr; border: round $panel-lighten-2; padding: 0 1;
        border-title-color: $text-muted;
    }
    RunbookScreen.-narrow #rb-doc { display: none; }
    RunbookScreen.-narrow.-doc #rb-doc { display: block; }
    RunbookScreen.-narrow.-doc #rb-side { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "run_step", "Run step", id="runbook.run"),
        Binding("R", "run_section", "Run section", id="runbook.section"),
        Binding("d", "dry_run", "Dry run", id="runbook.dry_run"),
        Binding("space,x", "toggle_item", "Tick item", id="runbook.tick"),
        Binding("o", "show_output", "Output", id="runbook.output"),
        Binding("m", "toggle_doc", "Document", id="runbook.doc"),
        Binding("g", "first", "First", show=False, id="runbook.first"),
        Binding("G", "last", "Last", show=False, id="runbook.last"),
        Binding("j", "cursor_down", "Down", show=False, id="runbook.down"),
        Binding("k", "cursor_up", "Up", show=False, id="runbook.up"),
        Binding("escape", "close", "Back", id="runbook.close"),
    ]

    def __init__(self, runbook: Runbook, checklist: ChecklistStore | None = None,
                 memory: RunbookMemory | None = None) -> None:
        super().__init__()
        self.runbook = runbook
        self.memory = memory if memory is not None else RunbookMemory()
        self.checklist = checklist if checklist is not None else ChecklistStore(runbook)
        #: rows in file order: steps and checklist items
        self.entries: list[Step | ChecklistItem] = sorted(
            [*runbook.steps, *runbook.checklist], key=lambda e: (e.line, isinstance(e, Step))
        )
        self._chunks: list[tuple[int, Static]] = []  #: (first line, rendered chunk)
        self._raw: TextArea | None = None

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._head(), id="rb-head", markup=False)
        with Horizontal(id="rb-body"):
            doc = VerticalScroll(id="rb-doc")
            doc.border_title = "document"
            with doc:
                yield from self._document()
            with Vertical(id="rb-side"):
                table = CellTable(cursor_type="row", id="rb-steps")
                table.border_title = "steps · checklist"
                for key in ("state", "id", "lang", "danger"):
                    table.add_column(key, key=key)
                for entry in self.entries:
                    table.add_row(*self._cells(entry), key=self._key(entry))
                yield table
                detail = VerticalScroll(Static("", id="rb-detail-text", markup=False),
                                        id="rb-detail")
                detail.border_title = "detail"
                yield detail
        yield Footer(compact=True, show_command_palette=False)

    def _document(self) -> list[Widget]:
        """One rendered block per section (few widgets: cheap to lay out and scroll);
        a large document is shown as raw text in a virtual, read-only text area."""
        try:
            text = self.runbook.path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return [Static(f"cannot read {self.runbook.path}: {exc.strerror}", markup=False)]
        sections = self.runbook.sections
        lines = document_lines(text.removeprefix("\ufeff"))
        if len(text) > MARKDOWN_LIMIT or len(sections) > MAX_RENDERED_SECTIONS:
            raw = "\n".join(bound(show_controls(line)) for line in lines)
            area = TextArea(raw, read_only=True, show_line_numbers=True, id="rb-raw",
                            soft_wrap=False)
            self._raw = area
            return [area]
        blocks = [s for s in self.runbook.steps if s.kind == "block"]
        starts = sorted({max(1, s.line) for s in sections} | {1}
                        | {s.line for s in blocks if not s.unclosed})
        widgets: list[Widget] = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(lines) + 1
            chunk = "\n".join(lines[start - 1:end - 1])
            if not chunk.strip():
                continue
            markdown = RichMarkdown(shown_block(chunk, MARKDOWN_LIMIT), hyperlinks=False,
                                    code_theme="ansi_dark")
            block = Static(markdown, classes="rb-section")
            widgets.append(block)
            self._chunks.append((start, block))
        return widgets

    def _goto_section(self, entry: Step | ChecklistItem) -> None:
        """Bring the selected row's place in the document into view."""
        if self._raw is not None:
            self._raw.scroll_to(y=max(0, entry.line - 3), animate=False)
            return
        # the rendered chunk holding the row's line: its code block, or its section
        chunk = None
        for start, widget in self._chunks:
            if start > entry.line:
                break
            chunk = widget
        if chunk is not None:
            self.query_one("#rb-doc", VerticalScroll).scroll_to_widget(
                chunk, animate=False, top=True)

    def on_mount(self) -> None:
        self._narrow(self.size.width)
        table = self.steps_table
        table.focus()
        if self.entries:
            first = next((i for i, e in enumerate(self.entries)
                          if isinstance(e, Step) and e.runnable), 0)
            table.move_cursor(row=first)
        self._show_detail()

    def on_resize(self, event) -> None:
        self._narrow(event.size.width)
        self.call_after_refresh(self._fit)

    def _narrow(self, width: int) -> None:
        self.set_class(width < WIDE, "-narrow")

    def _fit(self) -> None:
        table = self.steps_table
        if table.size.width:
            longest = max((len(self._key(e)) for e in self.entries), default=8)
            widths = spread(table.usable_width(), _FIXED, {"id": (8, max(8, longest))})
            table.fit_columns({**_FIXED, **widths})

    @property
    def steps_table(self) -> CellTable:
        return self.query_one("#rb-steps", CellTable)

    # -- rows ---------------------------------------------------------------------------

    @staticmethod
    def _key(entry: Step | ChecklistItem) -> str:
        return entry.id if isinstance(entry, Step) else f"[ ] {entry.id}"

    def _cells(self, entry: Step | ChecklistItem) -> tuple[Text, ...]:
        if isinstance(entry, ChecklistItem):
            done = self.checklist.is_checked(entry.id)
            return (Text("☑ done" if done else "☐ todo", style="green" if done else "dim"),
                    Text(shown(entry.text)), Text(""), Text(""))
        run = self.states.get(entry.id)
        status = run.status if run is not None else "pending"
        symbol, word, style = STATE.get(status, STATE["pending"])
        if not entry.runnable and run is None:
            symbol, word, style = "–", "no run", "dim"
        label, danger_style = _DANGER[entry.danger.level] if entry.runnable else ("—", "dim")
        return (Text(f"{symbol} {word}", style=style), Text(shown(entry.id)),
                Text(shown(entry.language or "text")), Text(label, style=danger_style))

    def _refresh_row(self, entry: Step | ChecklistItem) -> None:
        table = self.steps_table
        key = self._key(entry)
        for column, cell in zip(("state", "id", "lang", "danger"), self._cells(entry),
                                strict=True):
            table.set_cell(key, column, cell)
        self._head_update()

    def selected(self) -> Step | ChecklistItem | None:
        table = self.steps_table
        if not table.row_count or not 0 <= table.cursor_row < len(self.entries):
            return None
        return self.entries[table.cursor_row]

    # -- head and detail ----------------------------------------------------------------

    def _head(self) -> str:
        rb = self.runbook
        runnable = sum(1 for s in rb.steps if s.runnable)
        dangerous = sum(1 for s in rb.steps if s.runnable and s.danger.level == "dangerous")
        done, total = self.checklist.progress()
        ran = sum(1 for r in self.states.values() if r.status == "succeeded")
        failed = sum(1 for r in self.states.values()
                     if r.status in ("failed", "timed_out", "error"))
        parts = [f"{rb.title or rb.path.name} · {rb.path}",
                 f"{len(rb.steps)} steps ({runnable} runnable, {dangerous} dangerous)"]
        if total:
            parts.append(f"checklist {done}/{total}")
        if self.states:
            parts.append(f"{ran} ok" + (f", {failed} failed" if failed else ""))
        return shown(" · ".join(parts))

    def _head_update(self) -> None:
        self.query_one("#rb-head", Static).update(self._head())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_run_step()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        entry = self.selected()
        if entry is not None:
            self._goto_section(entry)

    def _show_detail(self) -> None:
        entry = self.selected()
        text = self.detail_text(entry) if entry is not None else "(this runbook has no steps)"
        self.query_one("#rb-detail-text", Static).update(text)

    def detail_text(self, entry: Step | ChecklistItem) -> str:
        """Everything about the selected row, as plain text (controls made visible)."""
        return shown_block(self._detail(entry))

    def _detail(self, entry: Step | ChecklistItem) -> str:
        rb = self.runbook
        if isinstance(entry, ChecklistItem):
            done = self.checklist.is_checked(entry.id)
            return (f"checklist item {entry.id} · line {entry.line} · "
                    f"{'done (space unticks it)' if done else 'to do (space ticks it)'}\n"
                    f"section: {entry.section.title}\n\n{entry.text}")
        out = [f"{entry.id} · {entry.language or 'text'} · {rb.path.name}:{entry.line}",
               f"section: {entry.section.title or '(before the first heading)'}"]
        if not entry.runnable:
            out.append(f"not runnable: {entry.reason}")
        danger = entry.danger
        if entry.runnable:
            out.append(f"danger: {danger.level}"
                       + (f" (annotated; detected {danger.detected})" if danger.annotated
                          else ""))
            out += [f"  · {reason}" for reason in danger.reasons]
        if entry.endless:
            out.append(f"runs until stopped ({entry.endless}): it ends at its timeout "
                       "(annotate timeout=30s to shorten) or when cancelled in the Runs pane")
        missing = missing_params(entry.placeholders, self._known_env())
        if missing:
            out.append("asks for: " + ", ".join(
                f"{p.name} ({' '.join(p.tokens)})" for p in missing))
        if entry.repairs:
            out.append("copy-paste damage repaired (see `cockpit runbook lint`):")
            out += [f"  · line {r.line}: {r.kind} {r.message}" for r in entry.repairs]
        out.append("")
        out.append("runs:" if entry.runnable else "block:")
        out += [f"  {line}" for line in (entry.command or entry.source).split("\n")[:40]]
        if entry.expectations:
            out.append("")
            out.append("expected:")
            for exp in entry.expectations:
                out += [f"  {line}" for line in exp.text.split("\n")[:20]]
        run = self.states.get(entry.id)
        if run is not None:
            out.append("")
            out.append(f"last run: {STATE.get(run.status, STATE['pending'])[1]}"
                       + (f" — {run.message}" if run.message else ""))
            last = self.last_entry.get(entry.id)
            if last is not None:
                tail = [text for _stream, text in list(last.lines)[-12:]]
                out += [f"  {line}" for line in tail]
                out.append("  (o: the whole output beside what is expected)")
        dry = self.dry_runs.get(entry.id)
        if dry:
            out.append("")
            out.append("dry run:")
            out += [f"  {line}" for line in dry.rstrip("\n").split("\n")]
        return "\n".join(out)

    def _known_env(self) -> dict[str, str]:
        context = getattr(self.app, "context", None)
        profile_env = context.loaded.env if context is not None else {}
        return {**os.environ, **profile_env}

    # -- what the app reports -------------------------------------------------------------

    @property
    def states(self) -> dict[str, StepRun]:
        return self.memory.states

    @property
    def last_entry(self) -> dict[str, RunEntry]:
        return self.memory.last_entry

    @property
    def dry_runs(self) -> dict[str, str]:
        return self.memory.dry_runs

    def step_changed(self, run: StepRun) -> None:
        """A step changed state (recorded in :attr:`memory` by the app): show it."""
        if self.is_mounted:
            self._refresh_row(run.step)
            if self.selected() is run.step:
                self._show_detail()
                if run.dry_run:  # it is at the end of the detail: bring it into view
                    detail = self.query_one("#rb-detail", VerticalScroll)
                    self.call_after_refresh(detail.scroll_end, animate=False)

    # -- keys ---------------------------------------------------------------------------

    def _selected_step(self) -> Step | None:
        entry = self.selected()
        if isinstance(entry, Step):
            return entry
        self.notify("select a step (a code block) first", severity="warning")
        return None

    def action_run_step(self) -> None:
        entry = self.selected()
        if isinstance(entry, ChecklistItem):
            self.action_toggle_item()
            return
        step = self._selected_step()
        if step is None:
            return
        if not step.runnable:
            self.notify(shown(f"{step.id} cannot run: {step.reason}"), severity="warning",
                        markup=False)
            return
        self.app.run_runbook(self.runbook, [step])  # type: ignore[attr-defined]

    def action_run_section(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        section = self.top_section(entry)
        steps = self.runbook.section_steps(section.slug)
        if not any(s.runnable for s in steps):
            tables = any(s.kind == "table" for s in self.runbook.steps
                         if section.slug in s.section.path)
            why = ("its table commands run one at a time (Enter)" if tables
                   else "it has no runnable step")
            self.notify(shown(f"section {section.title!r}: {why}"), severity="warning",
                        markup=False)
            return
        self.app.run_runbook(self.runbook, steps,  # type: ignore[attr-defined]
                             label=f"section {section.title}")

    def top_section(self, entry: Step | ChecklistItem) -> Section:
        """The section ``R`` runs: the ``##`` heading the row is under (below a single
        ``#`` title), with all of its subsections."""
        path = entry.section.path
        titles = [s for s in self.runbook.sections if s.level == 1]
        depth = 1 if len(titles) == 1 and len(path) > 1 else 0
        return self.runbook.section(path[depth]) if path else entry.section  # type: ignore[return-value]

    def action_dry_run(self) -> None:
        step = self._selected_step()
        if step is not None:
            self.app.run_runbook(self.runbook, [step], dry_run=True)  # type: ignore[attr-defined]

    def action_toggle_item(self) -> None:
        entry = self.selected()
        if not isinstance(entry, ChecklistItem):
            self.notify("space ticks checklist items; Enter runs a step", severity="warning")
            return
        try:
            self.checklist.toggle(entry.id)
        except Exception as exc:  # a read-only state dir: say so, keep the view
            self.notify(f"cannot save the checklist: {exc}", severity="error", markup=False)
        self._refresh_row(entry)
        self._show_detail()

    def action_show_output(self) -> None:
        step = self._selected_step()
        if step is None:
            return
        entry = self.last_entry.get(step.id)
        if entry is None:
            self.notify(f"{step.id} has not run in this session", severity="warning",
                        markup=False)
            return
        from cockpit.tui.screens.run_output import RunOutputScreen

        expected = shown_block("\n\n".join(e.text for e in step.expectations))
        self.app.push_screen(RunOutputScreen(entry, expected=expected))

    def action_toggle_doc(self) -> None:
        if self.has_class("-narrow"):
            self.toggle_class("-doc")
            if self.has_class("-doc"):
                self.query_one("#rb-doc").focus()
                entry = self.selected()
                if entry is not None:
                    self.call_after_refresh(self._goto_section, entry)
            else:
                self.steps_table.focus()
        else:
            doc = self.query_one("#rb-doc")
            (self.steps_table if doc.has_focus_within or doc.has_focus else doc).focus()

    def action_first(self) -> None:
        self.steps_table.move_cursor(row=0)

    def action_last(self) -> None:
        self.steps_table.move_cursor(row=max(0, self.steps_table.row_count - 1))

    def action_cursor_down(self) -> None:
        self.steps_table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.steps_table.action_cursor_up()

    def action_close(self) -> None:
        self.dismiss(None)
