"""Every surface, one hostile corpus: what the cockpit shows, prints or records is inert.

Real components only: a loopback HTTP health endpoint whose JSON reply carries hostile
sub-check names and reasons (and a metrics endpoint answering garbage), command probes
printing hostile stderr, a log file with hostile lines and private keys spread over
lines, an action printing the corpus, a system audit log of hostile records. Each
TUI pane's drawn text (the compositor's strips: what the terminal would be sent) and
its cells, each CLI command's stdout/stderr, every string of every ``--json`` output
and every record of the operator trail must pass ``tests.hostile.assert_inert``: no live
escape or control character, no planted secret, no unbounded line. Each surface also
shows a *witness* (a visible escape, a mask), so a surface the corpus never reached
cannot pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Log

from cockpit.core.boundary import TEXT_LIMIT
from cockpit.tui.app import CockpitApp
from cockpit.tui.panes.audit import AuditPane
from cockpit.tui.panes.health import HealthPane
from cockpit.tui.panes.logs import LogsPane
from cockpit.tui.panes.metrics import MetricsPane
from cockpit.tui.screens.counts import CountsScreen
from cockpit.tui.screens.params import ParamFormScreen
from cockpit.tui.screens.record import RecordScreen
from cockpit.tui.screens.run_output import RunOutputScreen
from tests.hostile import BLOCKS, ESCAPES, LINES, OPENSSH_KEY, PEM_KEY, assert_inert
from tests.support import LoopbackHTTP, async_wait_until
from tests.tui_support import make_context

PY = sys.executable
#: A visible escape every surface that got the corpus shows (``ESC ] 0 ;`` as text).
VISIBLE_TITLE = "\\e]0;owned-title"
#: Runbook surfaces: every ``cockpit runbook`` command on a hostile runbook (its title,
#: headings, checklist and code carry the corpus; one step prints it). The TUI runbook
#: view is walked in tests/test_tui_runbook.py with the same corpus.
RUNBOOK_SURFACES: list[tuple[str, list[str], str | tuple[str, ...]]] = [
    ("runbook list", ["runbook", "list", "{runbook}"], (VISIBLE_TITLE, "\\e]52")),
    ("runbook show", ["runbook", "show", "{runbook}", "hidden/1"], "$(touch"),
    ("runbook lint", ["runbook", "lint", "{runbook}"], "control-character"),
    ("runbook dry run", ["runbook", "run", "{runbook}", "hidden", "--dry-run"], "$(touch"),
    ("runbook run", ["runbook", "run", "{runbook}", "corpus/1", "--yes"], (VISIBLE_TITLE, "***")),
    ("runbook checklist", ["runbook", "checklist", "{runbook}"], "\\e[2J"),
]
RUNBOOK_JSON_SURFACES: list[tuple[str, list[str]]] = [
    ("runbook list --json", ["runbook", "list", "{runbook}", "--json"]),
]


def hostile_runbook(folder: Path, printer: Path, corpus: Path) -> Path:
    """A runbook whose title, headings, checklist and code carry the corpus."""
    path = folder / "hostile.md"
    path.write_text(
        f"# Ops {ESCAPES[1]} {ESCAPES[0]}\n\n"
        f"- [ ] tick {ESCAPES[3]} password=hunter2-Sup3rSecret\n\n"
        f"## Hidden\n\n{ESCAPES[2]}\n\n```bash\n{ESCAPES[-1]}\n```\n\n"
        f"## Corpus\n\n```bash\n{PY} {printer} {corpus} all\n```\n",
        encoding="utf-8")
    return path

PRINTER = r'''
import json, sys
corpus = json.load(open(sys.argv[1], encoding="utf-8"))
mode = sys.argv[2]
if mode == "probe":  # one hostile line on stderr, then fail
    print("starting", flush=True)
    print(corpus["lines"][int(sys.argv[3])], file=sys.stderr, flush=True)
    sys.exit(1)
for text in corpus["lines"] + corpus["blocks"]:
    print(text, flush=True)
for text in corpus["lines"][:3] + corpus["blocks"][:1]:
    print(text, file=sys.stderr, flush=True)
'''


def _strings(value: Any) -> Iterator[str]:
    """Every string of a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def assert_json_inert(text: str) -> Any:
    """Parse ``text`` (a JSON document, or JSON lines) and check every string in it."""
    text = text.strip()
    try:
        docs = [json.loads(text)]
    except ValueError:  # JSON lines; a malformed record is printed as its (safe) raw text
        docs = []
        for line in text.splitlines():
            try:
                docs.append(json.loads(line))
            except ValueError:
                assert_inert(line)
    for doc in docs:
        for string in _strings(doc):
            # a JSON value is bounded at the boundary's TEXT_LIMIT (with its mark)
            assert_inert(string, max_line=TEXT_LIMIT + 40)
    return docs


def _reply(path: str) -> tuple[int, str, bytes]:
    if path.startswith("/metrics"):
        body = "\n".join(LINES[:-1]) + "\nnot_a_metric{" + ESCAPES[1] + "\n"
        return 200, "text/plain", body.encode()
    checks: dict[str, Any] = {line: {"status": "fail", "detail": LINES[-2 - i % 3]}
                              for i, line in enumerate(LINES)}
    checks["key"] = {"status": "down", "detail": PEM_KEY}
    checks["title"] = {"status": ESCAPES[1], "error": OPENSSH_KEY}
    return 200, "application/json", json.dumps({"status": "ok", "checks": checks}).encode()


@pytest.fixture
def world(tmp_path: Path):
    """A hostile profile over real sources; yields (profile path, paths, server)."""
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps({"lines": list(LINES), "blocks": list(BLOCKS)}))
    printer = tmp_path / "printer.py"
    printer.write_text(PRINTER)
    log = tmp_path / "app.log"
    log.write_text("\n".join([*LINES, *BLOCKS, "last line"]) + "\n", encoding="utf-8")
    audit = tmp_path / "system-audit.jsonl"
    records = [
        {"ts_utc": "2026-11-22T07:00:00Z", "event_type": line, "decision": "DENY",
         "reason_codes": [line, "X"], "trace_id": LINES[(i + 1) % len(LINES)],
         "detail": BLOCKS[i % len(BLOCKS)], ESCAPES[i % len(ESCAPES)]: line}
        for i, line in enumerate(LINES)
    ]
    audit_lines = [json.dumps(r) for r in records]
    audit_lines.append("not json \x1b]0;owned-title\x07 password=hunter2-Sup3rSecret {")
    audit.write_text("\n".join(audit_lines) + "\n", encoding="utf-8")
    server = LoopbackHTTP(_reply)
    probes = "\n".join(
        f"  - {{name: cmd{i}, kind: command, interval: 3600s, timeout: 20s,"
        f" run: [{json.dumps(PY)}, {json.dumps(str(printer))}, {json.dumps(str(corpus))},"
        f" probe, '{i}']}}"
        for i in range(len(LINES))
    )
    profile = tmp_path / "hostile.yaml"
    profile.write_text(f"""\
name: hostile
health:
  - {{name: api, kind: http, url: "{server.url}/health", interval: 3600s, timeout: 10s}}
{probes}
logs:
  - {{name: app, kind: file, path: "{log}", backlog: 1000}}
metrics:
  - {{name: scraped, kind: prometheus, url: "{server.url}/metrics", metric: m,
      interval: 3600s}}
audit:
  path: {audit}
  columns: [ts_utc, event_type, decision, reason_codes, trace_id]
actions:
  - id: hostile
    title: Print the corpus
    run: [{json.dumps(PY)}, {json.dumps(str(printer))}, {json.dumps(str(corpus))}, all]
  - id: typed
    title: Typed param
    params:
      - {{name: count, type: int}}
    run: [{json.dumps(PY)}, -c, "print(1)"]
""")
    yield profile, {"log": log, "audit": audit, "tmp": tmp_path}, server
    server.close()


def screen_text(app: CockpitApp) -> str:
    """The text of the screen as drawn: every segment of the compositor's strips (what
    the driver would encode for the terminal), one line per screen row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def close_modal(app: CockpitApp, pilot) -> None:
    """Escape, and wait until the modal screen is gone."""
    await pilot.press("escape")
    await async_wait_until(lambda: len(app.screen_stack) == 1, what="the modal to close")


def table_text(table) -> str:
    return "\n".join(
        " | ".join(getattr(cell, "plain", str(cell)) for cell in table.get_row_at(row))
        for row in range(table.row_count)
    )


def check(name: str, text: str, witness: str | tuple[str, ...] = VISIBLE_TITLE) -> None:
    """``text`` (one surface) is inert, and the corpus reached it (``witness``)."""
    try:
        assert_inert(text)
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}") from None
    witnesses = (witness,) if isinstance(witness, str) else witness
    assert any(w in text for w in witnesses), f"{name}: the corpus never got there"


# --- the TUI ----------------------------------------------------------------------------


async def test_every_tui_surface_is_inert(world):
    profile, paths, _server = world
    context = make_context(paths["tmp"], profile.read_text())
    app = CockpitApp(context)
    async with app.run_test(size=(200, 60)) as pilot:
        health = app.query_one(HealthPane)
        await async_wait_until(
            lambda: sum(r.parent is None for r in health.rows) == len(LINES) + 1
            and any(r.parent for r in health.rows), timeout=60, what="every probe")
        logs = app.query_one(LogsPane)
        await async_wait_until(lambda: "last line" in logs.visible_lines(), timeout=20,
                               what="the log file")
        audit = app.query_one(AuditPane)
        await async_wait_until(lambda: audit.total_count >= len(LINES) + 1, timeout=20,
                               what="the audit log")
        metrics = app.query_one(MetricsPane)
        await async_wait_until(lambda: metrics.states.get("scraped", "unknown") != "unknown"
                               or metrics._sampler.series("scraped").last is not None,
                               timeout=20, what="the scrape")
        await pilot.pause()
        check("health table", table_text(health.table), ("\\e]52", "\\e]0;"))
        check("health rows", "\n".join(f"{r.name} {r.reason}" for r in health.rows))
        check("logs lines", "\n".join(logs.visible_lines()))
        assert "-----END RSA PRIVATE KEY-----" in logs.visible_lines()  # the key's end shows
        check("audit table", table_text(audit.table()), ("\\e]0;", "***"))
        check("metrics table", table_text(metrics.table), "scraped")
        check("whole screen", screen_text(app), ("\\e]0;", "\\e]52"))

        health.focus_pane()
        health.table.move_cursor(row=0)
        health.action_detail()  # a notification with the probe's reason
        await pilot.pause()
        check("health detail toast", screen_text(app), ("\\e]0;", "\\e]52"))

        audit.focus_pane()
        audit.table().move_cursor(row=1)
        audit.action_open_record()
        await async_wait_until(lambda: isinstance(app.screen, RecordScreen), what="record")
        await pilot.pause()
        check("record view", app.screen.text + "\n" + screen_text(app), ("***", "\\u001b"))
        await close_modal(app, pilot)
        audit.table().move_cursor(row=audit.table().row_count - 1)
        audit.action_open_record()  # the malformed line
        await async_wait_until(lambda: isinstance(app.screen, RecordScreen), what="record")
        await pilot.pause()
        check("malformed record view", app.screen.text + "\n" + screen_text(app))
        await close_modal(app, pilot)
        audit.action_counts()
        await async_wait_until(lambda: isinstance(app.screen, CountsScreen), what="counts")
        counts = app.screen
        counts.field = "event_type"
        await async_wait_until(lambda: counts.result is not None, what="the counts")
        await pilot.pause()
        check("counts screen", screen_text(app), ("\\e]52", "\\e]0;", "\\e["))
        await close_modal(app, pilot)

        app.request_action("hostile")
        runs = app.runs_pane
        await async_wait_until(lambda: runs.entries and not next(iter(
            runs.entries.values())).running, timeout=30, what="the action to finish")
        entry = next(iter(runs.entries.values()))
        check("run entry lines", "\n".join(text for _stream, text in entry.lines))
        runs.focus_pane()
        runs.action_open()  # the way Enter opens it
        await async_wait_until(lambda: isinstance(app.screen, RunOutputScreen)
                               and app.screen.query(Log) and app.screen.query_one(Log).line_count,
                               what="the output view")
        await pilot.pause()
        output = "\n".join(app.screen.query_one(Log).lines)
        check("run output screen", output + "\n" + screen_text(app), ("\\e]0;", "***"))
        await close_modal(app, pilot)
        check("runs pane", table_text(runs.table) + "\n" + screen_text(app), "hostile")

        app.request_action("typed")
        await async_wait_until(lambda: isinstance(app.screen, ParamFormScreen), what="form")
        form = app.screen
        field = form.query_one("#param-count", Input)
        field.value = "1 " + ESCAPES[1]  # as a paste puts it there
        await async_wait_until(lambda: field.value.startswith("1 \\e]0;"), what="the paste")
        form.validate_form()
        await pilot.pause()
        assert form.errors and VISIBLE_TITLE in "".join(form.errors.values())
        check("params form", "\n".join(form.errors.values()) + "\n" + screen_text(app))
        await close_modal(app, pilot)
    check_trail(context.trail_path, runs=1)


def check_trail(path: Path, runs: int) -> None:
    """Every string of every trail record is inert; the run's output tail is there."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tails = []
    for line in lines:
        record = json.loads(line)
        for string in _strings(record):
            assert_inert(string)
        tails += record.get("output_tail") or []
    assert len([t for t in tails if VISIBLE_TITLE in t or "***" in t]) >= runs


# --- the CLI ----------------------------------------------------------------------------


def cockpit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "cockpit", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def cli_env(world):
    profile, paths, _server = world
    env = {**os.environ, "NO_COLOR": "1",
           "COCKPIT_AUDIT_PATH": str(paths["tmp"] / "operator-trail.jsonl")}
    return profile, paths, env


CLI_SURFACES: list[tuple[str, list[str], str | tuple[str, ...]]] = [
    ("check", ["check"], ("\\e]52", "\\e]0;")),
    ("run", ["run", "hostile"], (VISIBLE_TITLE, "***")),
    ("actions", ["actions"], "hostile"),
    ("audit tail", ["audit", "tail", "{audit}", "-n", "100"], ("\\e]0;", "***")),
    ("audit stats", ["audit", "stats", "{audit}", "--by", "event_type"], ("\\e]52", "\\e[")),
    ("validate", ["validate", "{bad}"], "owned-title"),
    *RUNBOOK_SURFACES,
]
JSON_SURFACES: list[tuple[str, list[str]]] = [
    ("check --json", ["check", "--json"]),
    ("run --json", ["run", "hostile", "--json"]),
    ("actions --json", ["actions", "--json"]),
    ("audit tail --json", ["audit", "tail", "{audit}", "-n", "100", "--json"]),
    ("audit stats --json", ["audit", "stats", "{audit}", "--by", "event_type", "--json"]),
    *RUNBOOK_JSON_SURFACES,
]


def _argv(argv: list[str], profile: Path, paths: dict[str, Path]) -> list[str]:
    bad = paths["tmp"] / "bad.yaml"
    bad.write_text(f"name: bad\nhealth:\n  - {{name: x, kind: \"{ESCAPES[1]}\"}}\n".replace(
        "\x1b", "\\e").replace("\x07", "\\a"), encoding="utf-8")
    runbook = hostile_runbook(paths["tmp"], paths["tmp"] / "printer.py",
                              paths["tmp"] / "corpus.json")
    args = [a.format(audit=paths["audit"], bad=bad, runbook=runbook) for a in argv]
    no_profile = args[0] in ("audit", "validate") or args[1:2] in (["lint"], ["checklist"])
    return args if no_profile else [*args, "--profile", str(profile)]


@pytest.mark.parametrize(("name", "argv", "witness"), CLI_SURFACES,
                         ids=[s[0] for s in CLI_SURFACES])
def test_every_cli_surface_is_inert(cli_env, name, argv, witness):
    profile, paths, env = cli_env
    proc = cockpit(*_argv(argv, profile, paths), env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    check(f"{name} stdout+stderr", proc.stdout + "\n" + proc.stderr, witness)
    if name == "run":
        check_trail(Path(env["COCKPIT_AUDIT_PATH"]), runs=1)


@pytest.mark.parametrize(("name", "argv"), JSON_SURFACES, ids=[s[0] for s in JSON_SURFACES])
def test_every_json_output_is_inert(cli_env, name, argv):
    profile, paths, env = cli_env
    proc = cockpit(*_argv(argv, profile, paths), env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    docs = assert_json_inert(proc.stdout)
    assert docs, f"{name}: no JSON"
    check(f"{name} stderr", proc.stderr + " hostile", "hostile")


def test_cli_cuts_long_lines_with_a_mark(cli_env):
    """``cockpit run`` prints a 20,000-character line cut, saying how much was cut."""
    profile, _paths, env = cli_env
    proc = cockpit("run", "hostile", "--profile", str(profile), env=env)
    long = [line for line in proc.stdout.splitlines() if line.startswith("xxxx")]
    assert long and all(line.endswith(" chars]") and "…[+" in line for line in long)


# --- the palette and the params form: a profile someone else wrote ----------------------

#: OSC 52 (a clipboard write) as the tester planted it, and its visible form.
CLIPBOARD = "\x1b]52;c;Q0xJUEJPQVJE\x1b\\"
VISIBLE_CLIPBOARD = "\\e]52;c;Q0xJUEJPQVJE"
CHOICE = f"c {CLIPBOARD} x"
DEFAULT = f"v {ESCAPES[1]} w"
LOOKALIKE = "c \\e]52;c;Q0xJUEJPQVJE\\e\\ x"  #: typed, not live: shown just like CHOICE
MARKUP = "grep '[a-z]' [bold]not bold[/bold]"


@pytest.fixture
def hostile_palette(tmp_path: Path, monkeypatch):
    """A profile whose name, actions, params, runbooks carry escapes and a secret; a
    ``./profiles/`` file and a user theme whose names carry them too."""
    config = tmp_path / "config"
    themes = config / "cockpit" / "themes"
    themes.mkdir(parents=True)
    (themes / "evil.yaml").write_text(
        f"name: {json.dumps('cockpit-evil ' + ESCAPES[1])}\nprimary: '#aa0000'\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / f"evil {ESCAPES[0]}.yaml").write_text("name: evil\n")
    monkeypatch.chdir(tmp_path)
    q = json.dumps
    profile = f"""\
name: {q('ops ' + ESCAPES[1])}
runbooks: [{q('gone ' + ESCAPES[1] + '.md')}]
actions:
  - id: a1
    title: {q('t1 ' + ESCAPES[1])}
    description: {q('d ' + CLIPBOARD + ' x password=hunter2-Sup3rSecret')}
    tags: [{q('tag ' + ESCAPES[3])}]
    params:
      - name: pick
        type: choice
        choices: [ok, {q(CHOICE)}, {q(LOOKALIKE)}]
        description: {q('pd ' + ESCAPES[1])}
      - name: text
        default: {q(DEFAULT)}
      - name: pattern
        required: false
        regex: {q('[a-z]*|' + ESCAPES[1])}
    run: [{q(PY)}, -c, "print(1)", "{{pick}}", "{{text}}"]
  - id: a2
    title: {q(MARKUP)}
    run: [{q(PY)}, -c, "print(1)"]
  - id: a3
    title: a default its own regex refuses
    params:
      - name: n
        default: {q('x ' + ESCAPES[3])}
        regex: {q('[0-9]+|' + ESCAPES[1])}
    run: [{q(PY)}, -c, "print(1)", "{{n}}"]
"""
    return make_context(tmp_path, profile)


async def _palette(app: CockpitApp, pilot, query: str, witness: str) -> str:
    """The screen with the palette showing ``query``'s hits, once one holds ``witness``
    (as text the compositor draws: live or visible, the test then tells)."""
    from textual.command import CommandInput, CommandList

    if not app.screen.query(CommandList):
        await pilot.press("colon")
        await async_wait_until(lambda: app.screen.query(CommandList), what="the palette")
    app.screen.query_one(CommandInput).value = query
    commands = app.screen.query_one(CommandList)

    def shown() -> bool:
        prompts = [str(getattr(commands.get_option_at_index(i).prompt, "plain",
                               commands.get_option_at_index(i).prompt))
                   for i in range(commands.option_count)]
        return any(witness in p for p in prompts)

    await async_wait_until(shown, what=f"the palette's hits for {query!r}")
    await pilot.pause()
    return screen_text(app)


async def test_the_palette_shows_profile_text_inert(hostile_palette):
    """Action titles and descriptions, profile file names, theme names and runbook
    paths reach the palette through the boundary: escapes visible, secrets hidden."""
    app = CockpitApp(hostile_palette)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("colon")
        from textual.command import CommandList
        await async_wait_until(lambda: app.screen.query(CommandList)
                               and app.screen.query_one(CommandList).option_count,
                               what="the palette's list")
        await pilot.pause()
        check("palette, nothing typed", screen_text(app), ("a1", VISIBLE_TITLE))
        await pilot.press("a", "1")
        text = await _palette(app, pilot, "a1", "a1 —")
        check("palette: action", text, VISIBLE_CLIPBOARD)
        check("palette: action title", text, VISIBLE_TITLE)
        assert "hunter2" not in text
        check("palette: profile files",
              await _palette(app, pilot, "Switch profile", "evil"), "\\e]52;c;ZWNobyBwd25lZA")
        check("palette: themes", await _palette(app, pilot, "Theme", "evil"), VISIBLE_TITLE)
        check("palette: runbooks", await _palette(app, pilot, "Runbook unavailable", "gone"),
              VISIBLE_TITLE)
        text = await _palette(app, pilot, "a2", "a2 —")
        assert MARKUP in text  # searched text is shown as itself, never read as markup
        check("palette: panes and help",  await _palette(app, pilot, "pane", "Go to pane"),
              "Go to pane")
        check("header", screen_text(app), VISIBLE_TITLE)


async def test_the_params_form_shows_profile_text_inert_and_submits_real_values(
        hostile_palette):
    """Title, param descriptions, the regex placeholder, a default and the choices of a
    dropdown are shown in visible form; what is submitted is the profile's own value."""
    from textual.widgets import Select

    app = CockpitApp(hostile_palette)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        app.request_action("a1")
        await async_wait_until(lambda: isinstance(app.screen, ParamFormScreen)
                               and app.screen.query("#param-pattern"), what="the form")
        form = app.screen
        await pilot.pause()
        text = screen_text(app)
        check("params form", text, VISIBLE_TITLE)
        assert "t1 \\e]0;owned-title\\a" in text  # the title
        assert "pd \\e]0;owned-title\\a" in text  # a description
        assert "default: v \\e]0;owned-title\\a w" in text  # a default, as a placeholder
        assert "[a-z]*|\\e]0;owned-title\\a" in text  # a regex, as a placeholder
        select = form.query_one("#param-pick", Select)
        select.focus()
        await pilot.press("enter")
        await async_wait_until(lambda: select.expanded, what="the dropdown")
        await pilot.pause()
        text = screen_text(app)
        check("choices dropdown", text, VISIBLE_CLIPBOARD)
        # the choice typed as \\e and the one holding ESC look alike: their numbers differ
        assert "Q0xJUEJPQVJE\\e\\ x (choice 2)" in text and "(choice 3)" in text
        overlay = select.query_one("SelectOverlay")
        await pilot.press("down", "down")  # blank, ok, the hostile choice
        await async_wait_until(lambda: overlay.highlighted == 2, what="the choice")
        await pilot.press("enter")
        await async_wait_until(lambda: not select.expanded, what="the dropdown to close")
        await pilot.pause()
        check("chosen", screen_text(app), "(choice 2)")
        raw = form.raw_values()
        assert raw["pick"] == CHOICE  # the real choice runs, as the confirm screen shows
        assert "text" not in raw  # a default with escapes: the core fills the real one
        form.submit()
        runs = app.runs_pane
        await async_wait_until(lambda: runs.entries, timeout=30, what="the run")
        prepared = next(iter(runs.entries.values())).prepared
        assert prepared.values == {"pick": CHOICE, "text": DEFAULT}

        app.request_action("a3")  # the core refuses the default: a toast quotes the regex
        await async_wait_until(lambda: isinstance(app.screen, ParamFormScreen)
                               and app.screen.query("#param-n"), what="the form")
        app.screen.submit()  # the field is blank (its default has escapes): the core says
        await async_wait_until(lambda: len(app.screen_stack) == 1
                               and "'a3'" in screen_text(app), what="the toast")
        await pilot.pause()
        check("refusal toast", screen_text(app), "[0-9]+|\\e]0;owned-title")
