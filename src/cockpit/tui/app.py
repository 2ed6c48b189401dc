"""The cockpit TUI: six panes over one profile, actions from the command palette.

The app holds no business logic: panes read the core's sources, actions go through the
core's ``ActionRunner`` (validation, policy, audit), and this module only wires screens,
keys and layout together.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerFailed, WorkerState

from cockpit.core.config.discovery import list_profiles
from cockpit.core.config.models import Action
from cockpit.core.errors import CockpitError, UsageError
from cockpit.tui.commands import CockpitCommands
from cockpit.tui.context import CockpitContext
from cockpit.tui.header import CockpitHeader
from cockpit.tui.panes.base import Pane
from cockpit.tui.panes.health import HealthPane
from cockpit.tui.panes.runs import RunsPane
from cockpit.tui.panes.targets import TargetsPane
from cockpit.tui.runs import RunEntry
from cockpit.tui.terminal.compositor import use_span_compositor
from cockpit.tui.terminal.driver import cockpit_driver, compact_output_wanted
from cockpit.tui.themes import DEFAULT_THEME, load_themes
from cockpit.tui.widgets.footer import CockpitFooter, lay_out_behind
from cockpit.tui.widgets.scrollbar import install_compact_scrollbars

if TYPE_CHECKING:  # runbooks load on first use: Markdown parsing is not start-up work
    from cockpit.core.actions.runner import ConfirmRequest, PreparedRun, RunOutcome
    from cockpit.core.runbooks.model import Runbook, Step
    from cockpit.core.runbooks.session import StepRun
    from cockpit.tui.panes.audit import AuditPane
    from cockpit.tui.panes.logs import LogsPane
    from cockpit.tui.screens.runbook import RunbookMemory

#: Below this size the panes are shown one at a time, with a tab line to switch.
WIDE_WIDTH, WIDE_HEIGHT = 120, 40

#: The panes in layout order: number -> (widget id, title: the pane's ``PANE_TITLE``, for
#: the tab line before a held pane exists).
PANES = {1: ("health", "Health"), 4: ("metrics", "Metrics"), 2: ("logs", "Logs"),
         6: ("targets", "Targets"), 3: ("audit", "Audit"), 5: ("runs", "Runs")}


#: At a compact size the panes not shown are mounted only once the first frame with data
#: is on screen (every probe reported) -- mounting five panes costs ~100 ms -- or after
#: this many seconds at most; any key or click, an action or a wide size mounts them at once.
HOLD_PANES_AT_MOST = 1.0
#: Seconds from the first complete health round to mounting the held panes: the header
#: and the probes' rows are painted first (Textual paints at most every 1/60 s).
HOLD_PANES_PAINT = 0.05


#: Seconds from mount to the one full collection that freezes the start-up heap: late
#: enough not to stall the first frames with data (it takes ~70 ms).
FREEZE_HEAP_DELAY = 1.5


def _freeze_heap() -> None:
    gc.collect()
    gc.freeze()
    gc.enable()  # the launcher turns it off for the start-up (cli.commands.cmd_tui)


class PaneTabs(Static):
    """The compact layout's tab line: ``1 Health  2 Logs ...`` with the active one lit."""

    DEFAULT_CSS = """
    PaneTabs { height: 1; background: $panel; display: none; }
    """

    def show_active(self, active: int, titles: list[tuple[int, str]]) -> None:
        parts = []
        for number, title in titles:
            text = f" {number} {title} "
            parts.append(f"[reverse b]{text}[/]" if number == active else text)
        self.update("".join(parts))


class CockpitApp(App[Any]):
    """One profile's cockpit: Health, Logs, Audit, Metrics, Runs and Targets."""

    TITLE = "cockpit"
    COMMANDS = {CockpitCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"
    CSS = """
    #panes {
        layout: grid;
        grid-size: 12 3;
        grid-rows: 1fr 2fr 1fr;
    }
    #panes > Pane { column-span: 6; }
    #panes > #logs { column-span: 7; }
    #panes > #targets { column-span: 5; }
    #panes.-compact, #panes.-full { layout: vertical; }
    #panes.-compact > Pane, #panes.-full > Pane { display: none; height: 1fr; }
    #panes.-compact > Pane.-active, #panes.-full > Pane.-active { display: block; }
    Screen.-compact PaneTabs { display: block; }
    Screen.-compact.-full PaneTabs { display: none; }
    """
    BINDINGS = [
        Binding("colon", "command_palette", "Actions", id="app.palette"),
        # Textual adds ctrl+p only when no binding opens the palette: say it here.
        Binding("ctrl+p", "command_palette", "Actions", show=False, id="app.palette_ctrl"),
        Binding("1", "show_pane(1)", "Health", show=False, id="app.pane.health"),
        Binding("2", "show_pane(2)", "Logs", show=False, id="app.pane.logs"),
        Binding("3", "show_pane(3)", "Audit", show=False, id="app.pane.audit"),
        Binding("4", "show_pane(4)", "Metrics", show=False, id="app.pane.metrics"),
        Binding("5", "show_pane(5)", "Runs", show=False, id="app.pane.runs"),
        Binding("6", "show_pane(6)", "Targets", show=False, id="app.pane.targets"),
        Binding(
            "right_square_bracket", "cycle_pane(1)", "Next pane", show=False, id="app.pane.next"
        ),
        Binding(
            "left_square_bracket", "cycle_pane(-1)", "Prev pane", show=False, id="app.pane.prev"
        ),
        Binding("f", "toggle_full", "Full", id="app.fullscreen"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("escape", "back", "Back", show=False, id="app.back"),
        Binding("q", "quit_cockpit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit_cockpit", "Quit", show=False, priority=True, id="app.quit_ctrl"),
    ]

    def __init__(self, context: CockpitContext, *, runbook: str | Path | None = None) -> None:
        super().__init__()
        self.driver_class = cockpit_driver(
            self.driver_class, compact=compact_output_wanted(context.settings.compact_output)
        )
        self.initial_runbook = runbook  #: ``cockpit --runbook FILE``: opened over the panes
        install_compact_scrollbars()
        self.context = context
        self.active_pane = 1
        self.compact = False
        self.full_pane = False  #: ``f``: only the active pane, header and footer kept
        self.started_demo = False
        self._next_run = 1
        self._runbooks: dict[Path, tuple[int, Runbook]] = {}
        self.runbook_problems: dict[Path, str] = {}  #: runbooks that could not be read
        self._runbook_memory: dict[Path, RunbookMemory] = {}
        self.theme_problems: list[str] = []
        self._scope_workers: dict[str, Worker[list[str]]] = {}
        #: hold back the panes not shown at start-up (see ``compose``); None: on a real
        #: terminal with a live context (tests set it to exercise the held start)
        self.hold_panes: bool | None = None
        self._held_panes: list[int] = []  #: numbers of the panes not made yet
        #: the first round's child connects the backend itself (for its target probes;
        #: the Health pane takes the round over at mount)
        self._child_connects = bool(context.early_probes is not None
                                    and context.early_probes.connects)
        self._panes_mounted = asyncio.Event()  #: every pane is mounted
        self._probe_backlog: list[list[Any]] = []  #: health rows for a held Metrics pane
        self._release_scheduled = False
        self.animation_level = "full" if context.settings.animations else "none"
        themes, self.theme_problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        wanted = context.settings.theme or context.loaded.profile.theme or DEFAULT_THEME
        self.theme = wanted if wanted in self.available_themes else DEFAULT_THEME
        if wanted not in self.available_themes:
            self.theme_problems.append(f"unknown theme {wanted!r}; using {DEFAULT_THEME}")

    # -- layout ---------------------------------------------------------------------------

    def push_screen(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Textual's; then the screen now behind runs a layout it still waits for (a
        screen behind a modal one gets no idle message to run it: its footer's keys
        stayed unplaced, a blank row under the form)."""
        pushed = super().push_screen(*args, **kwargs)
        self.call_later(lay_out_behind, self)
        return pushed

    def get_default_screen(self) -> Screen:
        # the main screen's partial updates render only the widgets a change touches
        # (background panes repaint together, spread over the screen: terminal.compositor)
        screen = super().get_default_screen()
        use_span_compositor(screen)
        return screen

    def compose(self) -> ComposeResult:
        # Panes are kept by reference: queries from the app run on the *current* screen,
        # which may be a modal.
        self.header = CockpitHeader(self.context)
        self.tabs = PaneTabs(id="tabs")
        compact = self.size.width < WIDE_WIDTH or self.size.height < WIDE_HEIGHT
        hold = self.hold_panes
        if hold is None:
            hold = self.context.live and not self.is_headless
        if hold and compact and self.initial_runbook is None:
            # Only the active pane is seen: the others are made and mounted after the
            # first frame with data (``_release_panes``), so they do not delay it.
            self._held_panes = [n for n in PANES if n != self.active_pane]
        else:
            self._panes_mounted.set()
        self.panes: dict[int, Pane] = {
            n: self._new_pane(n) for n in PANES if n not in self._held_panes
        }
        self.panes_container = Container(*self.panes.values(), id="panes")
        self._preset_layout()
        yield self.header
        yield self.tabs
        yield self.panes_container
        yield CockpitFooter(compact=True, show_command_palette=False)

    def _new_pane(self, number: int) -> Pane:
        """Pane ``number``; the Logs, Audit and Metrics modules load when first made."""
        pane_id = PANES[number][0]
        if number == 1:
            return HealthPane(self.context, id=pane_id)
        if number == 2:
            from cockpit.tui.panes.logs import LogsPane

            return LogsPane(self.context, id=pane_id)
        if number == 3:
            from cockpit.tui.panes.audit import AuditPane

            return AuditPane(self.context, id=pane_id)
        if number == 4:
            from cockpit.tui.panes.metrics import MetricsPane

            return MetricsPane(self.context, id=pane_id)
        if number == 5:
            return RunsPane(self.context, id=pane_id)
        return TargetsPane(self.context, id=pane_id)

    def _preset_layout(self) -> None:
        """The layout classes for the terminal's size before anything is styled: set
        after mount, they style every widget a second time (~25 ms of start-up)."""
        compact = self.size.width < WIDE_WIDTH or self.size.height < WIDE_HEIGHT
        self.compact = compact
        self.screen.set_class(compact, "-compact")
        self.panes_container.set_class(compact, "-compact", update=False)
        for number, pane in self.panes.items():
            pane.set_class(number == self.active_pane, "-active", update=False)

    @property
    def runs_pane(self) -> RunsPane:
        return self.panes[5]  # type: ignore[return-value]

    @property
    def audit_pane(self) -> AuditPane:
        return self.panes[3]  # type: ignore[return-value]

    def on_mount(self) -> None:
        if self.context.settings.keymap:
            self.set_keymap(self.context.settings.keymap)
        for problem in self.theme_problems:
            self.notify(problem, severity="warning", markup=False)
        self._apply_layout(self.size.width, self.size.height)
        self.pane(1).focus_pane()
        health = self.panes.get(1)
        if isinstance(health, HealthPane) and health.rows:
            # rows the forked first round had ready at mount: in the first frame too
            self.header.health = health.overall
        if self.context.live and not (self._held_panes and self._child_connects):
            # (else the first round's child connects on its own, for its target
            # probes: the UI's connection, an SDK's import that holds the interpreter,
            # waits for the panes held back until the first frame with data)
            self._connect_backend()
        if self.context.live and self.context.loaded.profile.demo:
            self.ensure_demo()
        if self.initial_runbook is not None:
            self.open_runbook(self.initial_runbook)
        # Move everything alive after start-up out of the collector's sight: full
        # collections of Textual's widget graph otherwise stall the UI for 50-75 ms
        # under a log firehose (bench/log_ingest.py).
        self.set_timer(FREEZE_HEAP_DELAY, _freeze_heap)
        if self._held_panes:
            if self.context.loaded.profile.health:
                self.set_timer(HOLD_PANES_AT_MOST, self._release_panes)
            else:  # no probe to wait for: once the first frame is painted
                self._schedule_release()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Pane keys belong to the main screen: off while another screen is shown."""
        if action in ("show_pane", "cycle_pane", "toggle_full", "back"):
            return self.screen is self.screen_stack[0]
        return True

    def on_resize(self, event) -> None:
        self._apply_layout(event.size.width, event.size.height)

    async def on_event(self, event: events.Event) -> None:
        # A key, a click or a paste may reach any pane: the held ones are mounted first.
        if isinstance(event, events.InputEvent | events.Paste) and \
                not self._panes_mounted.is_set():
            await self._release_panes()
        await super().on_event(event)

    def _schedule_release(self) -> None:
        if not self._release_scheduled:
            self._release_scheduled = True
            self.set_timer(HOLD_PANES_PAINT, self._release_panes)

    async def _release_panes(self) -> None:
        """Make and mount the panes held back at start-up (if any); return once all are
        mounted."""
        if self._held_panes:
            numbers, self._held_panes = self._held_panes, []
            if self.context.live and self._child_connects:
                self._connect_backend()  # (held back at mount: see on_mount)
            made = {n: self._new_pane(n) for n in numbers}
            for number, pane in made.items():
                pane.set_class(number == self.active_pane, "-active", update=False)
            order = list(PANES)
            shown = next(iter(self.panes))  # the one pane made at start-up
            before = [p for n, p in made.items() if order.index(n) < order.index(shown)]
            after = [p for n, p in made.items() if order.index(n) > order.index(shown)]
            self.panes = {n: self.panes[n] if n in self.panes else made[n] for n in PANES}
            if before:
                await self.panes_container.mount(*before, before=self.panes[shown])
            if after:
                await self.panes_container.mount(*after)
            for rows in self._probe_backlog:  # in order, as they came
                self.panes[4].observe_probe(rows)
            self._probe_backlog.clear()
            self._panes_mounted.set()
        await self._panes_mounted.wait()

    def _apply_layout(self, width: int, height: int) -> None:
        compact = width < WIDE_WIDTH or height < WIDE_HEIGHT
        if not compact and not self._panes_mounted.is_set():
            self.call_later(self._release_panes)  # every pane is seen now
        self.compact = compact
        self.screen_stack[0].set_class(compact, "-compact")
        self.panes_container.set_class(compact, "-compact")
        self._mark_active()

    def _mark_active(self) -> None:
        for number, pane in self.panes.items():
            pane.set_class(number == self.active_pane, "-active")
        self.tabs.show_active(self.active_pane, self.pane_titles())

    def pane(self, number: int) -> Pane:
        return self.panes[number]

    def pane_titles(self) -> list[tuple[int, str]]:
        return [(n, PANES[n][1]) for n in sorted(PANES)]

    def action_show_pane(self, number: int) -> None:
        """Jump to pane ``number`` (1-6): shown alone in the compact layout, focused."""
        self.active_pane = number
        self._mark_active()
        self.pane(number).focus_pane()

    def action_cycle_pane(self, step: int) -> None:
        self.action_show_pane((self.active_pane - 1 + step) % len(PANES) + 1)

    def on_descendant_focus(self, event) -> None:
        for number, pane in self.panes.items():
            if event.widget is pane or pane in event.widget.ancestors:
                if number != self.active_pane:
                    self.active_pane = number
                    self._mark_active()
                return

    def action_toggle_full(self) -> None:
        """Toggle the focused pane full-screen; the header and footer stay in view."""
        self.full_pane = not self.full_pane
        self.panes_container.set_class(self.full_pane, "-full")
        self.screen_stack[0].set_class(self.full_pane, "-full")
        self.pane(self.active_pane).focus_pane()

    def action_back(self) -> None:
        if self.full_pane:
            self.action_toggle_full()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every toast passes the boundary: many quote outside text (a theme file's name,
        a profile's regex in a refusal, a runbook's path, a command's error)."""
        boundary = self.context.boundary
        super().notify(boundary.text(message), title=boundary.line(title) if title else "",
                       severity=severity, timeout=timeout, markup=markup)

    def switch_theme(self, name: str) -> None:
        self.theme = name
        self.notify(f"theme: {name}", markup=False)

    def profile_locations(self):
        return list_profiles()

    def switch_profile(self, path: str) -> None:
        """Leave this cockpit and open another profile (the launcher re-opens the app)."""
        if self.runs_pane.running_entries:
            self.notify(
                "actions are running: wait for them or cancel them first", severity="warning"
            )
            return
        self.exit(("switch", path))

    # -- health and metrics ---------------------------------------------------------------

    @on(HealthPane.Updated)
    def _health_updated(self, event: HealthPane.Updated) -> None:
        self.header.health = event.overall
        if self._panes_mounted.is_set():
            self.panes[4].observe_probe(event.rows)
            return
        self._probe_backlog.append(list(event.rows))
        health: HealthPane = self.panes[1]  # type: ignore[assignment]
        if len({row.parent or row.name for row in health.rows}) >= len(
                self.context.loaded.profile.health):
            self._schedule_release()  # every probe reported: its frame is being painted

    # -- help -----------------------------------------------------------------------------

    def action_help(self) -> None:
        rows: list[tuple[str, str, str, str]] = []
        seen: set[tuple[str, str, str | None]] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            where = type(active.node).__name__.replace("CockpitApp", "app")
            if (where, binding.action, binding.id) in seen or not binding.description:
                continue
            seen.add((where, binding.action, binding.id))
            rows.append(
                (where, self.get_key_display(binding), binding.description, binding.id or "")
            )
        rows.append(("app", "ctrl+p", "Command palette: actions, panes, themes", "palette"))
        rows.sort(key=lambda row: (row[0] == "app", row[0]))
        from cockpit.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(rows))

    def action_operator_trail(self) -> None:
        self.action_show_pane(3)
        audit = self.audit_pane
        if audit.view != "operator":
            audit.action_toggle_view()

    @work(group="connect", exclusive=True, exit_on_error=False)
    async def _connect_backend(self) -> None:
        """The backend's slow set-up (credentials, clients), off the UI thread; the header
        says "connecting" meanwhile and why it failed, if it does."""
        header = self.query_one(CockpitHeader)
        header.connection = "connecting"
        try:
            await self.context.backend.ensure_connected()
        except Exception as exc:
            header.connection = f"cannot connect: {exc}"
            self.notify(f"{self.context.backend.kind}: cannot connect: {exc}",
                        severity="error", markup=False)
            return
        header.connection = ""

    # -- scopes (``:ctx`` / ``:ns``) -------------------------------------------------------

    def scope_verbs(self) -> dict[str, str]:
        """Palette verbs that switch a scope of the backend (``ctx`` -> ``context``)."""
        return dict(self.context.backend.scope_verbs)

    def current_scope(self, scope: str) -> str | None:
        """The backend's current value of ``scope`` (its identity's field of that name)."""
        value = getattr(self.context.backend.identity(), scope, None)
        return value if isinstance(value, str) else None

    def prefetch_scope_choices(self) -> None:
        """Ask the backend for every scope's choices now, each in a worker (the palette
        opens: they are ready, or on their way, when a verb is typed)."""
        self._scope_workers.clear()
        for scope in self.scope_verbs().values():
            self._scope_worker(scope)

    def _scope_worker(self, scope: str) -> Worker[list[str]]:
        worker = self._scope_workers.get(scope)
        if worker is None or worker.state in (WorkerState.CANCELLED, WorkerState.ERROR):
            worker = self.run_worker(self.context.backend.scope_choices(scope),
                                     group=f"scope-choices-{scope}", exit_on_error=False)
            self._scope_workers[scope] = worker
        return worker

    async def scope_choices(self, scope: str) -> list[str]:
        """The values ``scope`` can be switched to, fetched in a worker (never on the UI
        thread's time: awaiting this only waits); the backend's error is raised."""
        worker = self._scope_worker(scope)
        try:
            return list(await worker.wait())
        except WorkerFailed as exc:
            raise exc.error from None

    def choose_scope(self, scope: str) -> None:
        """``:ctx`` alone: a list of the choices, then the switch."""
        self._choose_scope(scope)

    @work(group="scope-choose", exclusive=True, exit_on_error=False)
    async def _choose_scope(self, scope: str) -> None:
        from cockpit.tui.screens.scope import ScopeScreen

        self.prefetch_scope_choices()
        value = await self.push_screen_wait(ScopeScreen(scope, self.current_scope(scope)))
        if value is not None:
            self.switch_scope(scope, value)

    def switch_scope(self, scope: str, value: str) -> None:
        """Operate in ``value`` of ``scope`` (off the UI thread: the backend may connect);
        then the header, the Targets pane, target logs and the health probes follow."""
        self._switch_scope(scope, value)

    @work(group="scope", exclusive=True, exit_on_error=False)
    async def _switch_scope(self, scope: str, value: str) -> bool:
        from cockpit.tui.screens.scope import one_line

        header = self.header
        header.note = f"switching {scope} to {value}…"
        try:
            await self.context.backend.switch_scope(scope, value)
        except Exception as exc:
            header.note = ""
            self.notify(f"cannot switch {scope} to {value}: {one_line(exc)}",
                        severity="error", markup=False)
            return False
        header.note = ""
        header.refresh()
        self._scope_workers.clear()  # the choices of one scope may hang on another
        targets: TargetsPane = self.panes[6]  # type: ignore[assignment]
        targets.restart_watch()
        health: HealthPane = self.panes[1]  # type: ignore[assignment]
        health.action_refresh()
        logs: LogsPane = self.panes[2]  # type: ignore[assignment]
        await logs.retarget()
        self.notify(f"{scope}: {value}", timeout=3, markup=False)
        return True

    # -- actions --------------------------------------------------------------------------

    def request_action(self, action_id: str, prefill: dict[str, Any] | None = None) -> None:
        """Run an action: params form, policy, confirmation, then the runner. ``prefill``
        gives params (the Targets pane's target); the form opens for the others."""
        self._action_flow(action_id, prefill=prefill)

    @work(group="actions", exit_on_error=False)
    async def _action_flow(self, action_id: str, source: dict | None = None,
                           prefill: dict[str, Any] | None = None) -> RunEntry | None:
        await self._release_panes()  # the run goes into the Runs pane
        runner = self.context.runner
        try:
            action = runner.action(action_id)
        except UsageError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return None
        raw: dict[str, Any] = dict(prefill or {})
        if action.params and any(p.name not in raw for p in action.params):
            from cockpit.tui.screens.params import ParamFormScreen

            form = await self.push_screen_wait(
                ParamFormScreen(action, self.context.boundary, values=raw))
            if form is None:
                return None
            raw = form
        try:
            prepared = runner.prepare(action, raw, source=source or {"kind": "tui"})
        except UsageError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return None
        entry = self._new_entry(prepared)
        runs = self.runs_pane
        began = False

        def started(_prepared: PreparedRun) -> None:
            nonlocal began
            began = True
            runs.add_run(entry)
            entry.started = self.context.now()  # time the run, not the confirmation dialog
            self.notify(f"▶ {action.id} started", timeout=3, markup=False)

        # the one path: policy, confirmation (only if the policy asks), records, the run
        outcome = await runner.run(
            prepared, confirm=self.confirm_run, on_line=entry.add_line, on_start=started
        )
        if not began:  # refused: read-only, not confirmed, the trail unwritable
            return self._denied(entry, outcome)
        entry.finish(outcome)
        if not runs.is_attached:
            return entry
        runs.update_run(entry)
        self._after_run(entry)
        return entry

    async def confirm_run(self, request: ConfirmRequest) -> bool:
        """Ask what the runner's policy asks: Run/Cancel for ``yes``, the id typed for
        ``type``; Cancel is focused, the exact command shown."""
        from cockpit.tui.screens.confirm import ConfirmScreen

        return bool(await self.push_screen_wait(
            ConfirmScreen(
                request.title,
                # what the backend tells (a traffic table), a blank line, the action's words
                "\n".join([*request.context, "", request.description]) if request.context
                else request.description,
                command=request.command,
                type_to_confirm=request.text_to_type if request.needed == "type" else None,
            )
        ))

    # -- runbooks ------------------------------------------------------------------------

    def runbook_paths(self) -> list[Path]:
        """The profile's ``runbooks:``, relative to the profile's folder."""
        base = self.context.loaded.path.parent
        return [(base / Path(p).expanduser()) for p in self.context.loaded.profile.runbooks]

    async def load_runbook(self, path: str | Path, *, quiet: bool = False) -> Runbook | None:
        """Parse a runbook in a thread (cached by path and mtime). When it cannot be read,
        a notification (unless ``quiet``) and :attr:`runbook_problems` say why."""
        import asyncio

        from cockpit.core.runbooks.parser import parse_runbook

        path = Path(path).expanduser()
        cached = self._runbooks.get(path)

        def read() -> tuple[int, Runbook]:  # in a thread: the stat too is file I/O
            stamp = path.stat().st_mtime_ns
            if cached is not None and cached[0] == stamp:
                return cached
            return stamp, parse_runbook(path)

        try:
            stamp, runbook = await asyncio.to_thread(read)
        except (OSError, CockpitError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) else str(exc)
            self.runbook_problems[path] = problem or str(exc)
            if not quiet:
                self.notify(f"cannot open runbook {path}: {problem}", severity="error",
                            markup=False)
            return None
        self.runbook_problems.pop(path, None)
        self._runbooks[path] = (stamp, runbook)
        return runbook

    def cached_runbook(self, path: Path) -> Runbook | None:
        """The runbook as last parsed (the palette re-reads changed files when it opens)."""
        cached = self._runbooks.get(path)
        return cached[1] if cached is not None else None

    @work(group="runbook-open", exclusive=True, exit_on_error=False)
    async def open_runbook(self, path: str | Path) -> None:
        """Show a runbook: its document, steps and checklist."""
        from cockpit.tui.screens.runbook import RunbookScreen

        runbook = await self.load_runbook(path)
        if runbook is not None:
            await self.push_screen(
                RunbookScreen(runbook, memory=self.runbook_memory(runbook.path)))

    def runbook_memory(self, path: Path) -> RunbookMemory:
        """This session's step states of the runbook at ``path``."""
        from cockpit.tui.screens.runbook import RunbookMemory

        return self._runbook_memory.setdefault(Path(path).resolve(), RunbookMemory())

    @work(group="prompt", exit_on_error=False)
    async def action_open_runbook_prompt(self) -> None:
        from cockpit.tui.screens.path_prompt import PathPromptScreen

        path = await self.push_screen_wait(
            PathPromptScreen("Open a Markdown runbook", "path/to/runbook.md"))
        if path is not None:
            self.open_runbook(path)

    def run_runbook(self, runbook: Runbook, steps: list[Step], *, label: str | None = None,
                    dry_run: bool = False) -> None:
        """Run runbook steps in order (one, or a section): form, confirmations, audit.
        Open views of the runbook show the states as they change."""
        self._runbook_flow(runbook, steps, label, dry_run)

    @work(group="actions", exit_on_error=False)
    async def _runbook_flow(self, runbook: Runbook, steps: list[Step], label: str | None,
                            dry_run: bool) -> list[StepRun]:
        await self._release_panes()  # the steps' runs go into the Runs pane
        from cockpit.core.runbooks.actions import dry_run_text
        from cockpit.core.runbooks.session import RunbookSession, StepRun
        from cockpit.tui.screens.runbook import RunbookScreen

        runner = self.context.runner
        entries: dict[str, RunEntry] = {}

        def on_step(run: StepRun) -> None:
            entry = entries.get(run.step.id)
            if entry is None and run.prepared is not None and (
                run.status == "running" or run.outcome is not None
            ):
                entry = self._new_entry(run.prepared)
                entries[run.step.id] = entry
                self.runs_pane.add_run(entry)
            if entry is not None and run.outcome is not None and entry.outcome is None:
                entry.finish(run.outcome)
                if self.runs_pane.is_attached:
                    self.runs_pane.update_run(entry)
            self.runbook_memory(runbook.path).record(run, entry)
            for shown in self.screen_stack:
                if isinstance(shown, RunbookScreen) and shown.runbook.path == runbook.path:
                    shown.step_changed(run)

        def on_line(step: Step, line) -> None:
            entry = entries.get(step.id)
            if entry is not None:
                entry.add_line(line)

        session = RunbookSession(runbook, runner,
                                 confirm=lambda _step, request: self.confirm_run(request),
                                 on_line=on_line, on_step=on_step)
        if dry_run:
            runs = []
            for step in steps:
                run = StepRun(step, status="dry-run")
                run.dry_run = dry_run_text(step, {}, env=session.known_env())
                on_step(run)
                runs.append(run)
            return runs
        values: dict[str, Any] = {}
        wanted: dict[str, Any] = {}
        for _step, param in session.params(steps):
            wanted.setdefault(param.name, param)
        if wanted:
            worst = max((s.danger.level for s in steps),
                        key=("safe", "caution", "dangerous").index)
            form_action = Action(id="runbook-params", title=label or steps[0].id,
                                 script=":", params=list(wanted.values()), danger=worst)
            from cockpit.tui.screens.params import ParamFormScreen

            form = await self.push_screen_wait(ParamFormScreen(form_action, self.context.boundary))
            if form is None:
                return []
            values = form
        try:
            runs = await session.run(steps, values)
        except UsageError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return []
        self._runbook_summary(runs, label)
        return runs

    def _runbook_summary(self, runs: list[StepRun], label: str | None) -> None:
        ok = sum(1 for r in runs if r.status == "succeeded")
        stopped = next((r for r in runs if r.status not in ("succeeded", "skipped")), None)
        name = label or (runs[0].step.id if runs else "runbook")
        if stopped is None:
            self.notify(f"✓ {name}: {ok} step{'s' if ok != 1 else ''} ok", timeout=5,
                        markup=False)
        else:
            self.notify(f"✗ {name}: stopped at {stopped.step.id} ({stopped.status})"
                        + (f" — {stopped.message}" if stopped.message else ""),
                        severity="error", timeout=10, markup=False)
        self.audit_pane.refresh_operator_trail()

    def _new_entry(self, prepared: PreparedRun, started: float | None = None) -> RunEntry:
        """The next numbered Runs entry for ``prepared`` (started now unless told)."""
        entry = RunEntry(self._next_run, prepared,
                         started=self.context.now() if started is None else started)
        self._next_run += 1
        return entry

    def add_finished_run(self, prepared: PreparedRun, outcome: RunOutcome,
                         started: float) -> RunEntry:
        """A run that took its own way through the engine (a shell session, which has
        the terminal while it lasts) as a finished row of the Runs pane."""
        entry = self._new_entry(prepared, started)
        entry.finish(outcome)
        if self.runs_pane.is_attached:
            self.runs_pane.add_run(entry)
        return entry

    def _denied(self, entry: RunEntry, outcome) -> RunEntry:
        entry.finish(outcome)
        runs = self.runs_pane
        runs.add_run(entry)
        self.notify(
            f"{entry.action_id} refused: {outcome.message} "
            f"[{', '.join(outcome.decision.reason_codes)}]",
            severity="warning",
            markup=False,
        )
        self._after_run(entry, quiet=True)
        return entry

    def _after_run(self, entry: RunEntry, quiet: bool = False) -> None:
        outcome = entry.outcome
        if outcome is not None and not quiet:
            ok = outcome.status == "succeeded"
            self.notify(
                f"{'✓' if ok else '✗'} {entry.action_id}: {outcome.status}"
                + ("" if ok else f" — {outcome.message}"),
                severity="information" if ok else "error",
                timeout=5 if ok else 10,
                markup=False,
            )
        self.audit_pane.refresh_operator_trail()
        if entry.prepared.spec.operation is not None:  # a backend operation changed targets
            targets: TargetsPane = self.panes[6]  # type: ignore[assignment]
            targets.relist()

    # -- targets --------------------------------------------------------------------------

    @on(TargetsPane.LogsRequested)
    def _target_logs(self, event: TargetsPane.LogsRequested) -> None:
        """``l`` on a target: the Logs pane, narrowed to the target's lines."""
        logs: LogsPane = self.panes[2]  # type: ignore[assignment]
        logs.show_source(event.name, event.also)
        self.action_show_pane(2)

    @on(TargetsPane.OperationRequested)
    def _target_operation(self, event: TargetsPane.OperationRequested) -> None:
        self.request_action(event.action_id, prefill=event.prefill)

    @on(RunsPane.OpenRequested)
    def _open_run(self, event: RunsPane.OpenRequested) -> None:
        from cockpit.tui.screens.run_output import RunOutputScreen

        self.push_screen(RunOutputScreen(event.entry))

    @on(RunsPane.CancelRequested)
    def _cancel_run(self, event: RunsPane.CancelRequested) -> None:
        self._confirm_cancel(event.entry)

    @work(group="cancel", exit_on_error=False)
    async def _confirm_cancel(self, entry: RunEntry) -> None:
        from cockpit.tui.screens.confirm import ConfirmScreen

        confirmed = await self.push_screen_wait(
            ConfirmScreen(
                f"Kill the running {entry.action_id}?",
                "Kills its whole process tree; the cancellation is recorded in the audit trail.",
                command=entry.prepared.display,
                confirm_label="Kill it",
            )
        )
        if confirmed and entry.running:
            await entry.prepared.cancel()

    # -- demo -----------------------------------------------------------------------------

    @work(group="demo", exit_on_error=False)
    async def ensure_demo(self) -> None:
        """Start the bundled demo service if nothing listens on its port (audited)."""
        import asyncio

        port = int(self.context.loaded.env.get("COCKPIT_DEMO_PORT", "8765"))
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 1.0
            )
            writer.close()
            return
        except (TimeoutError, OSError):
            pass
        header = self.header
        header.note = "starting the demo service…"
        worker = self._action_flow("start", {"kind": "auto-start"})
        entry = await worker.wait()
        header.note = ""
        self.started_demo = entry is not None and entry.status == "succeeded"
        if self.started_demo:
            self.panes[1].action_refresh()

    # -- quitting -------------------------------------------------------------------------

    @work(group="quit", exit_on_error=False)
    async def action_quit_cockpit(self) -> None:
        running = self.runs_pane.running_entries
        if running:
            from cockpit.tui.screens.confirm import ConfirmScreen

            names = ", ".join(e.action_id for e in running)
            confirmed = await self.push_screen_wait(
                ConfirmScreen(
                    "Quit with actions running?",
                    f"Running: {names}. Quitting cancels them (kills their process trees) "
                    "and records the cancellation.",
                    confirm_label="Quit",
                )
            )
            if not confirmed:
                return
            for entry in running:
                await entry.prepared.cancel()
        self.exit()
