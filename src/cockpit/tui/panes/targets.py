"""Targets pane: what the backend runs and operates on (processes, containers, pods),
k9s-like: one row per target, children indented under their parents, health computed by
the backend (ok / unknown / fail, as a word and a symbol, coloured like the Health pane).

The list comes from ``sources.targets.watch_targets`` in a worker: the backend yields a
new list when something changed (from its event stream where it has one), never a poll
per target here. Only changed cells are written. A hidden pane (compact layout) stops
pulling new lists until it is shown again, and a pane in view but not focused paints on
the shared background slots (``Pane.repaint_wait``), so an idle pane costs nothing.

Keys on the selected target (only those that apply are offered): Enter its detail and
recent events, ``l`` the Logs pane narrowed to its lines, ``s`` an interactive shell (the
TUI hands the terminal over; asked first, recorded), ``o`` the backend's operations for
its kind that the profile enables (through the usual params, policy, confirmation and
trail). ``/`` filters by name, kind, state or reason; Esc clears.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from cockpit.core.backends.base import Capability, Operation, Target
from cockpit.core.config.models import Action, TargetLogSource
from cockpit.core.sources.targets import (
    format_cpu,
    format_mem,
    safe_target,
    tree_order,
    watch_targets,
)
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.base import TablePane
from cockpit.tui.panes.health import format_age
from cockpit.tui.widgets.keyed_rows import KeyedRows
from cockpit.tui.widgets.table import CellTable, spread

#: The keys offered only where they apply (``check_action``): the footer follows them.
_TARGET_KEYS = ("clear_filter", "logs", "shell", "no_shell", "operations")
#: Most targets shown; the rest are counted in the status.
MAX_TARGETS = 2_000
#: Seconds before the list is asked for again after the backend's stream failed.
RETRY_FIRST, RETRY_MAX = 1.0, 30.0

#: Columns in display order: key -> (header, fixed width or None for flexible).
COLUMNS: dict[str, tuple[str, int | None]] = {
    "kind": ("kind", None),
    "name": ("name", None),
    "scope": ("scope", None),
    "state": ("state", None),
    "health": ("health", 9),
    "reason": ("reason", None),
    "restarts": ("rst", 3),
    "age": ("age", 4),
    "cpu": ("cpu", 5),
    "mem": ("mem", 6),
}
#: flexible columns: (least, most) width
FLEXIBLE = {"kind": (4, 10), "name": (6, 40), "scope": (5, 16), "state": (5, 16),
            "reason": (8, 1_000)}
#: columns left out, in this order, while the pane is too narrow for them
DROP_ORDER = ("scope", "cpu", "mem", "kind", "restarts", "age", "reason")
#: the same when the scope tells rows apart (one service in two regions): kept longer
DROP_ORDER_SCOPED = ("cpu", "mem", "kind", "restarts", "age", "scope", "reason")
#: the health cell of a row whose target list could not be had again
STALE = ("? stale", "yellow")
HEALTH = {
    "ok": ("✓ ok", "green"),
    "unknown": ("? unknown", "yellow"),
    "fail": ("✗ FAIL", "bold red"),
}
_PADDING = 2


def plural(noun: str, count: int) -> str:
    """``1 process``, ``2 processes``, ``3 containers``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}{'es' if noun.endswith(('s', 'x', 'sh', 'ch')) else 's'}"


def count_kinds(targets: Sequence[Target], noun: str) -> list[str]:
    """``["2 services", "3 revisions"]``: each kind counted, in the order they come
    (``["0 NOUNs"]`` for none); one kind is one count."""
    counts: dict[str, int] = {}
    for target in targets:
        counts[target.kind] = counts.get(target.kind, 0) + 1
    return [plural(kind, count) for kind, count in counts.items()] or [plural(noun, 0)]


def row_key(target: Target) -> str:
    return target.id or f"~{target.name}"


def matches(target: Target, text: str) -> bool:
    """Does the filter ``text`` (case-insensitive, every word) match the target's name,
    kind, state, health or reason?"""
    hay = " ".join((target.name, target.kind, target.state, target.health.state,
                    target.health.reason, *target.aliases)).lower()
    return all(word in hay for word in text.lower().split())


def scope_tells_apart(targets: list[Target]) -> bool:
    """Do targets of one name live in different scopes (a Cloud Run service in two
    regions, a workload in two namespaces)? Their rows then read alike without it."""
    seen: dict[str, str] = {}
    for target in targets:
        if target.scope and seen.setdefault(target.name, target.scope) != target.scope:
            return True
    return False


def choose_columns(width: int, targets: list[Target]) -> tuple[str, ...]:
    """The columns shown at ``width`` cells: those with something to show, then the
    least useful left out while the rest would not fit (the scope late when it is what
    tells two rows apart)."""
    columns = list(COLUMNS)
    if not any(t.scope for t in targets):
        columns.remove("scope")
    if all(t.cpu_percent is None for t in targets):
        columns.remove("cpu")
    if all(t.mem_bytes is None for t in targets):
        columns.remove("mem")
    if all(t.restarts is None for t in targets):
        columns.remove("restarts")

    # the names and states as long as they are (within their bounds): cut last
    least = dict({c: low for c, (low, _high) in FLEXIBLE.items()})
    for column, texts in (("name", [("  " if t.parent else "") + t.name for t in targets]),
                          ("state", [t.state for t in targets]),
                          ("kind", [t.kind for t in targets]),
                          ("scope", [t.scope for t in targets])):
        low, high = FLEXIBLE[column]
        least[column] = max(low, min(high, max(map(len, texts), default=low)))

    def needed(cols: list[str]) -> int:
        return sum((COLUMNS[c][1] or least[c]) + _PADDING for c in cols)

    for column in DROP_ORDER_SCOPED if scope_tells_apart(targets) else DROP_ORDER:
        if width <= 0 or needed(columns) <= width:
            break
        if column in columns:
            columns.remove(column)
    return tuple(columns)


def target_cells(target: Target, depth: int, now: float,
                 columns: tuple[str, ...], stale: bool = False) -> tuple[Text, ...]:
    """The cells of one row; ``stale``: the list could not be had since (the cluster or
    engine went away), so no health is claimed."""
    label, style = HEALTH.get(target.health.state, HEALTH["unknown"])
    if stale:
        label, style = STALE
    name = ("  " * (depth - 1) + "└ " if depth else "") + target.name
    age = format_age(now - target.started_at) if target.started_at is not None else "-"
    reason = target.health.reason
    cells = {
        "kind": Text(target.kind, style="dim"),
        "name": Text(name, style="" if depth else "bold"),
        "scope": Text(target.scope),
        "state": Text(target.state),
        "health": Text(label, style=style),
        # a reason that only repeats the state (a sleeping process) is left out
        "reason": Text("" if reason.lower() == target.state.lower() else reason,
                       style="red" if target.health.state == "fail" else ""),
        "restarts": Text("-" if target.restarts is None else str(target.restarts),
                         justify="right",
                         style="yellow" if target.restarts else ""),
        "age": Text(age, justify="right"),
        "cpu": Text(format_cpu(target.cpu_percent), justify="right"),
        "mem": Text(format_mem(target.mem_bytes), justify="right"),
    }
    return tuple(cells[c] for c in columns)


def child_log_names(target: Target, targets: Sequence[Target]) -> tuple[str, ...]:
    """The names ``target``'s children's log lines may be tagged with: their names, and
    their names within their scope (``REGION/REVISION``: each region of a profile has a
    revision of the same name, and its lines say which)."""
    return tuple(dict.fromkeys(
        name for t in targets if t.parent == target.id
        for name in (t.name, f"{t.scope}/{t.name}" if t.scope else t.name)))


def target_value(action: Action, param_name: str, target: Target,
                 others: Sequence[Target] = ()) -> str:
    """What names ``target`` in the action's target param: its name where the param
    takes it (a container), else an alias, else its id (a pid); never a name or alias
    another listed target shares (a fleet's two ``deployment/api``: then the id)."""
    from cockpit.core.actions.params import coerce_param

    shared = {name for other in others if other.id != target.id
              for name in (other.name, *other.aliases)}
    param = next((p for p in action.params if p.name == param_name), None)
    for candidate in (target.name, *target.aliases, target.id):
        if not candidate or (candidate in shared and candidate != target.id):
            continue
        if param is None:
            return candidate
        try:
            coerce_param(param, candidate)
        except ValueError:
            continue
        return candidate
    return target.id or target.name


class TargetTable(CellTable):
    """The targets' table: Enter (its own binding) opens the detail, and says so."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Detail", id="targets.detail"),
    ]


class TargetsPane(TablePane):
    """The backend's targets in a table; Enter, ``l``, ``s``, ``o``, ``/`` on them."""

    PANE_TITLE = "Targets"
    PANE_NUMBER = 6

    DEFAULT_CSS = """
    TargetsPane #targets-note { color: $text-muted; height: auto; padding: 0 1; }
    TargetsPane CellTable { height: 1fr; }
    TargetsPane #targets-filter { dock: bottom; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "logs", "Logs", id="targets.logs"),
        Binding("s", "shell", "Shell", id="targets.shell"),
        Binding("s", "no_shell", "Shell", show=False, id="targets.no_shell"),
        Binding("o", "operations", "Operations", id="targets.operations"),
        Binding("slash", "filter", "Filter", id="targets.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False,
                id="targets.clear_filter"),
        Binding("j", "cursor_down", "Down", show=False, id="targets.down"),
        Binding("k", "cursor_up", "Up", show=False, id="targets.up"),
    ]

    class LogsRequested(Message):
        """Show the Logs pane narrowed to the lines of ``name`` (and of its children
        ``also``: a workload's pods)."""

        def __init__(self, name: str, also: tuple[str, ...] = ()) -> None:
            super().__init__()
            self.name = name
            self.also = also

    class OperationRequested(Message):
        """Run ``action_id`` through the usual flow with ``prefill`` as its params."""

        def __init__(self, action_id: str, prefill: dict[str, Any]) -> None:
            super().__init__()
            self.action_id = action_id
            self.prefill = prefill

    def __init__(self, context: CockpitContext, *, id: str | None = "targets") -> None:
        super().__init__(context, id=id)
        backend = context.backend
        self.supported = bool(backend.capabilities & Capability.TARGETS)
        self._targets: list[Target] = []  #: the latest list (through the boundary)
        self._cut = 0  #: targets beyond MAX_TARGETS, not shown
        self._received = False  #: a first list arrived
        self._problem: str | None = None  #: why the list could not be had
        self._stale = False  #: the rows shown are from before that
        self._dirty = False  #: the list changed since it was painted
        self._paint_timer: Timer | None = None
        self._offered: tuple[bool | None, ...] = ()  #: the keys offered at the last check
        self._resume = asyncio.Event()  #: set while the pane is shown
        #: the worker waits for the pane to be shown before it asks for the next list
        self.watch_paused = False
        #: shown again after a pause: the list held is old until the stream's next one
        self._relisting = False
        self._columns: tuple[str, ...] = ()
        self._keyed = KeyedRows()
        self._rows: dict[str, tuple[Target, int]] = {}  #: row key -> (target, depth)
        #: row key -> (target, depth, columns, cells): an unchanged row keeps its cells
        self._cells: dict[str, tuple[Target, int, tuple[tuple[str, ...], bool],
                                     tuple[Text, ...]]] = {}
        self.filter_text = ""
        self._ops_by_kind: dict[str, list[tuple[Operation, Action]]] = {}
        self._generation = 0  #: bumped by ``restart_watch``: older streams stop

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        note = Static("", id="targets-note", markup=False)
        note.display = False
        yield note
        yield TargetTable(cursor_type="row", id="targets-table")
        filt = Input(placeholder="filter: name, kind, state or reason (Enter keeps it, "
                     "Esc clears)", id="targets-filter", compact=True)
        filt.display = False
        yield filt

    def on_mount(self) -> None:
        self._rebuild(self._columns_for())
        if not self.supported:
            kind = self.context.backend.kind
            self._show_note(f"The {kind} backend has no targets.")
            self.set_status(f"the {kind} backend has no targets")
            return
        self._update_status()
        if not self.context.live:
            return
        self._resume.set()
        self.run_worker(self._watch(self._generation), group="targets", exit_on_error=False)
        self.set_interval(1.0, self._tick_ages)

    def restart_watch(self) -> None:
        """The backend operates elsewhere now (``:ctx`` / ``:ns``): drop the list and
        watch the new one from the start."""
        if not self.supported or not self.context.live or not self.is_attached:
            return
        self.workers.cancel_group(self, "targets")
        self._generation += 1
        self._targets, self._cut, self._received, self._problem = [], 0, False, None
        self._stale = False
        self._dirty = True
        self._resume.set()
        self.run_worker(self._watch(self._generation), group="targets", exit_on_error=False)
        self._paint_soon()
        self._update_status()

    def relist(self) -> None:
        """Ask the backend for the list now (an operation just changed it; a backend
        that polls would show it only at its next poll): the stream starts over, the
        rows shown stay until the new list replaces them."""
        if not self.supported or not self.context.live or not self.is_attached:
            return
        self.workers.cancel_group(self, "targets")
        self._generation += 1
        self._resume.set()
        self.run_worker(self._watch(self._generation), group="targets", exit_on_error=False)

    @property
    def table(self) -> CellTable:
        return self.query_one("#targets-table", CellTable)

    # -- the list -------------------------------------------------------------------------

    async def _watch(self, generation: int = 0) -> None:
        """Consume the backend's target stream; while hidden, stop pulling until shown.
        A stream of an earlier ``generation`` (before a scope switch) shows nothing."""
        delay = RETRY_FIRST
        while generation == self._generation:
            try:
                stream = watch_targets(self.context.backend, self.context.boundary)
                async with contextlib.aclosing(stream):
                    async for targets in stream:
                        if generation != self._generation:
                            return
                        self._receive(targets)
                        delay = RETRY_FIRST
                        if not self.display:
                            self._resume.clear()
                            self.watch_paused = True
                            try:
                                await self._resume.wait()
                            finally:
                                self.watch_paused = False
                if generation != self._generation:
                    return
                self._fail("the backend stopped reporting its targets")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if generation != self._generation:
                    return
                self._fail(str(exc) or type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _fail(self, problem: str) -> None:
        if not self.is_attached:
            return
        self._problem = f"cannot list targets: {problem}"
        self._relisting = False
        if self._targets and not self._stale:  # what is shown is no longer known
            self._stale = True
            self._dirty = True
            self._paint_soon()
        self._update_status()

    def show_targets(self, targets: list[Target]) -> None:
        """Show these targets (tests, snapshots), once they have passed the boundary."""
        self._receive([safe_target(t, self.context.boundary) for t in targets])

    def _receive(self, targets: list[Target]) -> None:
        if not self.is_attached:
            return
        self._problem = None
        self._stale = False
        self._relisting = False
        self._received = True
        self._cut = max(0, len(targets) - MAX_TARGETS)
        self._targets = targets[:MAX_TARGETS]
        self._dirty = True
        self._paint_soon()

    def _paint_soon(self) -> None:
        """Paint now, at the pane's next background slot, or when it is shown."""
        if not self.display:
            return  # on_show paints
        wait = self.repaint_wait()
        if wait:
            if self._paint_timer is None:
                self._paint_timer = self.set_timer(wait, self._paint_due)
            return
        self._paint()

    def _paint_due(self) -> None:
        self._paint_timer = None
        if self._dirty:
            self._paint_soon()

    def on_show(self) -> None:
        if self.watch_paused:
            # the list held was had before the pane was hidden: a backend that polls
            # would show it as current until its next poll ("no processes" for one just
            # started); the stream starts over, and the pane says it is listing meanwhile
            self._relisting = True
            self.relist()
        self._resume.set()
        if self._dirty or self._relisting:
            self._paint()

    def on_hide(self) -> None:
        if self._paint_timer is not None:
            self._paint_timer.stop()
            self._paint_timer = None

    def on_descendant_focus(self) -> None:
        """The operator came in: what waited for a background slot shows now."""
        if self._paint_timer is not None:
            self._paint_timer.stop()
            self._paint_timer = None
        if self._dirty:
            self._paint()

    @property
    def paint_timer(self) -> Timer | None:
        """The wake-up of a paint put off to the next background slot, if any."""
        return self._paint_timer

    @property
    def painted_count(self) -> int:
        """Rows in the table now (tests)."""
        return self.table.row_count

    @property
    def targets(self) -> list[Target]:
        """The latest list (through the boundary), whether painted yet or not."""
        return list(self._targets)

    def _paint(self) -> None:
        self._dirty = False
        if self._paint_timer is not None:
            self._paint_timer.stop()
            self._paint_timer = None
        columns = self._columns_for()
        if columns != self._columns:
            self._rebuild(columns)
        self._sync_table()
        if not self._targets and self._received and not self._relisting:
            backend = self.context.backend
            hint = backend.targets_hint()
            self._show_note(f"No {plural(backend.target_noun, 0)[2:]}: the {backend.kind} "
                            "backend lists none for this profile." + (f" {hint}" if hint else ""))
        else:
            self._show_note("")
        self._update_status()
        self._offer_keys()

    def _offer_keys(self) -> None:
        """Refresh the footer's keys when the ones offered change: a refresh recomposes
        the footer and lays the screen out again (~8 ms), and a paint every background
        slot that changes nothing the footer shows was most of the idle TUI's CPU."""
        offered = tuple(self.check_action(action, ()) for action in _TARGET_KEYS)
        if offered != self._offered:
            self._offered = offered
            self.refresh_bindings()

    def _show_note(self, text: str) -> None:
        note = self.query_one("#targets-note", Static)
        if text:
            note.update(text)
        if note.display != bool(text):
            note.display = bool(text)

    def _visible(self) -> list[Target]:
        if not self.filter_text:
            return self._targets
        return [t for t in self._targets if matches(t, self.filter_text)]

    def _wanted(self) -> list[tuple[str, Target, int]]:
        rows: list[tuple[str, Target, int]] = []
        seen: set[str] = set()
        for row in tree_order(self._visible()):
            key = row_key(row.target)
            while key in seen:  # the same id twice (a backend's bug): keep both
                key += "'"
            seen.add(key)
            rows.append((key, row.target, row.depth))
        return rows

    def _columns_for(self) -> tuple[str, ...]:
        table = self.query_one("#targets-table", CellTable)
        return choose_columns(table.usable_width() if table.size.width else 0, self._targets)

    def _rebuild(self, columns: tuple[str, ...]) -> None:
        """A new set of columns (the width or what the targets have changed): rare."""
        table = self.table
        selected = self.selected_key()
        table.clear(columns=True)
        self._keyed.clear()
        self._columns = columns
        for column in columns:
            header, width = COLUMNS[column]
            table.add_column(header, key=column, width=width)
        self._sync_table(selected)
        self.call_after_refresh(self._fit)

    def _sync_table(self, selected: str | None = None) -> None:
        """Bring the table in line with the list, writing only changed cells."""
        table = self.table
        wanted = self._wanted()
        now = self.context.now()
        self._rows = {key: (target, depth) for key, target, depth in wanted}
        # an unchanged row (the very same target: the sources reuse it) keeps its cells,
        # so a thousand rows with a few changing cost a few (ages tick on their own)
        cache, fresh = self._cells, {}
        rows = []
        for key, target, depth in wanted:
            hit = cache.get(key)
            shape = (self._columns, self._stale)
            if hit is not None and hit[0] is target and hit[1] == depth and hit[2] == shape:
                cells = hit[3]
            else:
                cells = target_cells(target, depth, now, self._columns, self._stale)
            fresh[key] = (target, depth, shape, cells)
            rows.append((key, cells))
        self._cells = fresh
        if self._keyed.sync(table, rows, self._columns, selected):
            self.call_after_refresh(self._fit)
        else:
            self._fit()  # a state grew longer (paused -> running): its column follows

    def _tick_ages(self) -> None:
        """Refresh the age cells of the visible rows, when their text changed."""
        if "age" not in self._columns:
            return
        now = self.context.now()

        def age(key: str) -> str | None:
            found = self._rows.get(key)
            if found is None or found[0].started_at is None:
                return None
            return format_age(now - found[0].started_at)

        self._keyed.tick_visible(self.table, "age", self._columns.index("age"), age)

    def on_resize(self) -> None:
        if self.is_mounted and self._columns_for() != self._columns:
            self._rebuild(self._columns_for())
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Fixed columns as declared; name as wide as the longest, then the rest."""
        table = self.table
        if not table.size.width:
            return
        fixed = {c: COLUMNS[c][1] for c in self._columns if COLUMNS[c][1] is not None}
        flexible: dict[str, tuple[int, int]] = {}
        for column in self._columns:
            if column in FLEXIBLE:
                low, high = FLEXIBLE[column]
                longest = max((len(c.plain) for c in table.get_column(column)), default=low)
                flexible[column] = (low, max(low, min(high, longest))) \
                    if column != "reason" else (low, high)
        table.fit_columns(spread(table.usable_width(), fixed, flexible))  # type: ignore[arg-type]

    def _update_status(self) -> None:
        if not self.supported:
            return
        noun = self.context.backend.target_noun
        if self._problem:
            self.set_status(self._problem)
            return
        if not self._received or self._relisting:
            self.set_status(f"listing {plural(noun, 0)[2:]}…")
            return
        failing = sum(1 for t in self._targets if t.health.state == "fail")
        parts = count_kinds(self._targets, noun)
        if failing:
            parts.append(f"{failing} failing")
        if self._cut:
            parts.append(f"{self._cut} more not shown")
        if self.filter_text:
            parts.append(f"filter {self.filter_text!r}: {len(self._rows)} shown")
        self.set_status(" · ".join(parts))

    # -- selection ----------------------------------------------------------------------

    def selected_target(self) -> Target | None:
        if not self.is_mounted:
            return None
        key = self.selected_key()
        found = self._rows.get(key or "")
        return found[0] if found is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._offer_keys()  # the keys offered depend on the target

    def operations_for(self, target: Target) -> list[tuple[Operation, Action]]:
        """The backend's operations on ``target``'s kind that the profile enables (an
        action ``KIND.NAME`` running that operation)."""
        cached = self._ops_by_kind.get(target.kind)
        if cached is not None:
            return [(op, a) for op, a in cached if op.applies_to(target.kind, target.state)]
        backend = self.context.backend
        found: list[tuple[Operation, Action]] = []
        profile = self.context.loaded.profile
        # what the backend declares (the OPERATIONS flag is not asked: a backend may
        # declare operations for some profiles only), as the profile enables it
        for op in backend.operations(backend.opts):
            if target.kind not in op.target_kinds:
                continue
            action = profile.action(f"{backend.kind}.{op.name}")
            if action is not None and action.operation == op.name:
                found.append((op, action))
        self._ops_by_kind[target.kind] = found
        return [(op, a) for op, a in found if op.applies_to(target.kind, target.state)]

    def logs_for(self, target: Target) -> bool:
        """Does the Logs pane get lines tagged with this target (a ``target`` log source
        covering it, or a log source of its name)?"""
        names = {target.name, *target.aliases}
        for source in self.context.loaded.profile.logs:
            if isinstance(source, TargetLogSource) and (
                    not source.targets or names & set(source.targets)):
                return True
            if source.name in names:
                return True
        # a pod of a workload a `target` log source follows: its lines are there, tagged
        # POD/CONTAINER (a child process's lines are not its parent's source's)
        parent = next((t for t in self._targets if t.id == target.parent), None) \
            if target.parent else None
        if parent is None or parent is target:
            return False
        parents = {parent.name, *parent.aliases}
        return any(isinstance(source, TargetLogSource) and parents & set(source.targets)
                   for source in self.context.loaded.profile.logs)

    def _operable(self, target: Target | None) -> bool:
        return target is not None and bool(target.id) and target.state != "missing"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":  # else Esc goes on to the app
            return bool(self.query_one("#targets-filter", Input).display or self.filter_text)
        if action in ("logs", "shell", "no_shell", "operations"):
            target = self.selected_target()
            if target is None:
                return False
            if action == "logs":
                return self.logs_for(target)
            if action in ("shell", "no_shell"):
                has = self._operable(target) and \
                    self.context.backend.shell_argv(target) is not None
                return has if action == "shell" else not has
            if action == "operations":
                return self._operable(target) and bool(self.operations_for(target))
        return True

    # -- keys -----------------------------------------------------------------------------

    def open_selected(self, key: str) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        from cockpit.tui.screens.target_detail import TargetDetailScreen

        target = self.selected_target()
        if target is not None:
            self.app.push_screen(TargetDetailScreen(target, self.context))

    def action_logs(self) -> None:
        target = self.selected_target()
        if target is not None:
            self.post_message(self.LogsRequested(target.name,
                                                 child_log_names(target, self._targets)))

    def action_no_shell(self) -> None:
        target = self.selected_target()
        backend = self.context.backend
        if target is not None and not self._operable(target):
            self.app.notify(f"{target.name} is {target.state}: no shell", severity="warning",
                            markup=False)
            return
        self.app.notify(f"the {backend.kind} backend has no interactive shell",
                        severity="warning", markup=False)

    def action_shell(self) -> None:
        target = self.selected_target()
        if target is None:
            return
        argv = self.context.backend.shell_argv(target)
        if argv is None:
            self.action_no_shell()
            return
        self.run_worker(self.shell_flow(target, argv), group="targets-shell",
                        exclusive=True, exit_on_error=False)

    async def shell_flow(self, target: Target, argv: list[str]):
        """The one policy (read-only refuses), the app's yes/no showing the exact
        command, then the terminal handed over to it; the trail records the refusal, or
        the session's start and end."""
        from cockpit.core.actions.shell import prepare_shell, record_shell_session
        from cockpit.tui.terminal.handover import hand_terminal

        runner = self.context.runner
        app = self.app
        prepared = prepare_shell(runner, target.name, argv,
                                 source={"kind": "tui", "pane": "targets"})
        started = self.context.now()
        outcome = await record_shell_session(
            runner, prepared, lambda command: hand_terminal(app, command),
            confirm=getattr(app, "confirm_run", None))
        add_run = getattr(app, "add_finished_run", None)
        if add_run is not None:  # a row in the Runs pane, as any run has
            add_run(prepared, outcome, started)
        if outcome.status == "denied":
            app.notify(f"shell refused: {outcome.message} "
                       f"[{', '.join(outcome.decision.reason_codes)}]",
                       severity="warning", markup=False)
        elif outcome.status == "error":
            app.notify(f"shell in {target.name}: {outcome.message}", severity="error",
                       markup=False)
        else:
            ok = outcome.status == "succeeded"
            app.notify(f"shell in {target.name} ended (exit status {outcome.exit_code})",
                       severity="information" if ok else "warning", markup=False)
        audit = getattr(app, "audit_pane", None)
        if audit is not None:
            audit.refresh_operator_trail()
        return outcome

    def action_operations(self) -> None:
        target = self.selected_target()
        if target is None:
            return
        choices = self.operations_for(target)
        if not choices:
            self.app.notify(f"no operation of the {self.context.backend.kind} backend "
                            f"applies to {target.kind} {target.name}", markup=False)
            return
        self.run_worker(self._choose_operation(target, choices), group="targets-ops",
                        exclusive=True, exit_on_error=False)

    async def _choose_operation(self, target: Target,
                                choices: list[tuple[Operation, Action]]) -> None:
        from cockpit.tui.screens.operations import OperationsScreen

        picked = await self.app.push_screen_wait(
            OperationsScreen(target, choices, self.context.boundary))
        if picked is None:
            return
        op, action = next((op, action) for op, action in choices if action.id == picked)
        self.post_message(self.OperationRequested(
            picked, {op.target_param: target_value(action, op.target_param, target,
                                                      self._targets)}))

    # -- filter ---------------------------------------------------------------------------

    def action_filter(self) -> None:
        filt = self.query_one("#targets-filter", Input)
        filt.value = self.filter_text
        filt.display = True
        filt.focus()
        self.refresh_bindings()

    def set_filter(self, text: str) -> None:
        """Show only the targets matching ``text`` (every word, case-insensitive)."""
        text = " ".join(text.split())
        if text == self.filter_text:
            return
        self.filter_text = text
        self._sync_table()
        self._update_status()
        self.refresh_bindings()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_filter(event.value)
        event.input.display = False
        self.table.focus()
        self.refresh_bindings()

    def action_clear_filter(self) -> None:
        filt = self.query_one("#targets-filter", Input)
        filt.value = ""
        filt.display = False
        self.set_filter("")
        self.table.focus()
        self.refresh_bindings()
