"""``cockpit runbook list|show|run|lint|checklist``: Markdown runbooks, headless.

Wire it with ``add_runbook_parser(subparsers)``. Steps run through the profile's backend
(``--profile``, default ``$COCKPIT_PROFILE`` or ``demo``) and are audited like actions.
Exit status: 0 ok; 1 a step failed, lint findings, or nothing to run; 2 usage or an
unreadable runbook; 3 refused (not confirmed, read-only); a step's own status otherwise.

Everything printed from a runbook or a step goes through ``cockpit.core.boundary``:
escapes shown (``\\e]0;...``), never live and never removed, secrets redacted (a ``$VAR``
reference is not a secret and stays as it runs), lengths bounded (``shown``,
``visible_json``, ``Boundary``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from cockpit.cli.args import add_params, add_profile, add_read_only
from cockpit.cli.output import paint, report_problems
from cockpit.core.boundary import Boundary
from cockpit.core.errors import UsageError

_STYLE = {"safe": "ok", "caution": "warn", "dangerous": "crit"}


def add_runbook_parser(subparsers: Any) -> None:
    """Add ``runbook`` with its subcommands to an argparse ``subparsers`` object."""
    runbook = subparsers.add_parser(
        "runbook",
        help="open a Markdown runbook: list, show, run, lint its steps",
        description="Parse a team's Markdown runbook and run its steps through the "
        "profile's backend, audited like actions.",
    )
    runbook.set_defaults(func=lambda args: _usage(runbook))
    sub = runbook.add_subparsers(dest="runbook_command", metavar="COMMAND")

    listing = sub.add_parser("list", help="steps: section, language, runnable, danger, params")
    add_profile(listing)
    listing.add_argument("file", metavar="FILE")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="one step: its block, repaired command, params, danger")
    add_profile(show)
    show.add_argument("file", metavar="FILE")
    show.add_argument("step", metavar="STEP_ID")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=cmd_show)

    run = sub.add_parser(
        "run",
        help="run a step or a section (stops at the first failure)",
        description="Run a step (STEP_ID) or every step of a section (SECTION_SLUG) in "
        "order; non-safe steps ask first (on a terminal) or need --yes.",
    )
    add_profile(run)
    run.add_argument("file", metavar="FILE")
    run.add_argument("target", metavar="STEP_ID|SECTION_SLUG")
    add_params(run, confirm_help="confirm non-safe steps without a prompt")
    run.add_argument("--dry-run", action="store_true", help="print what would run; run nothing")
    add_read_only(run, what="step")
    run.set_defaults(func=cmd_run)

    lint = sub.add_parser("lint", help="copy-paste damage, unannotated dangerous steps, ...")
    lint.add_argument("files", nargs="+", metavar="FILE")
    lint.add_argument("--no-syntax", action="store_true", help="skip the bash -n check")
    lint.set_defaults(func=cmd_lint)

    checklist = sub.add_parser("checklist", help="the checklist items and their saved state")
    checklist.add_argument("file", metavar="FILE")
    checklist.add_argument("--check", action="append", default=[], metavar="ID")
    checklist.add_argument("--uncheck", action="append", default=[], metavar="ID")
    checklist.add_argument("--toggle", action="append", default=[], metavar="ID")
    checklist.add_argument("--json", action="store_true", help="machine-readable output")
    checklist.set_defaults(func=cmd_checklist)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return 2


def _load_profile(args: argparse.Namespace):
    from cockpit.core.config.discovery import find_profile
    from cockpit.core.config.loader import load_profile

    return load_profile(find_profile(args.profile))


def _parse(path: str):
    from cockpit.core.runbooks.parser import parse_runbook

    return parse_runbook(path)


def _known_env(loaded) -> dict[str, str]:
    return {**os.environ, **loaded.env}


def shown(text: str) -> str:
    """Runbook text on one line, through the boundary: redacted, escapes and line breaks
    visible, length bounded."""
    return Boundary().line(text)


def visible_json(value: Any) -> Any:
    """A JSON-like value through the boundary: every string redacted, escapes visible,
    length bounded."""
    return Boundary().obj(value)


def _print_text(text: str, out: Boundary, *, indent: str = "", file: Any = None) -> None:
    """A block of runbook or step text, line by line, through the boundary."""
    stream = out.stream()
    for line in text.rstrip("\n").split("\n"):
        print(f"{indent}{stream.line(line)}", file=file or sys.stdout)


# -- list / show ------------------------------------------------------------------------


def step_json(step, env: dict[str, str]) -> dict[str, Any]:
    """A step as JSON (``runbook list --json``, ``show --json``)."""
    from cockpit.core.runbooks.placeholders import missing_params

    return {
        "id": step.id,
        "kind": step.kind,
        "section": step.section.slug,
        "section_title": step.section.title,
        "section_path": list(step.section.path),
        "line": step.line,
        "language": step.language,
        "runnable": step.runnable,
        "reason": step.reason,
        "danger": step.danger.level,
        "danger_detected": step.danger.detected,
        "danger_annotated": step.danger.annotated,
        "danger_reasons": list(step.danger.reasons),
        "params": [
            {
                "name": p.name,
                "kind": p.kind,
                "tokens": list(p.tokens),
                "line": p.line,
                "env": p.env_name,
                "description": p.description,
            }
            for p in missing_params(step.placeholders, env)
        ],
        "expectations": [
            {"line": e.line, "source": e.source, "language": e.language, "text": e.text}
            for e in step.expectations
        ],
        "repairs": [
            {
                "line": r.line,
                "column": r.column,
                "kind": r.kind,
                "original": r.original,
                "replacement": r.replacement,
            }
            for r in step.repairs
        ],
        "annotations": step.annotations,
        "source": step.source,
        "command": step.command,
    }


def cmd_list(args: argparse.Namespace) -> int:
    """List a runbook's steps."""
    from cockpit.core.runbooks.checklist import ChecklistStore
    from cockpit.core.runbooks.placeholders import missing_params

    runbook = _parse(args.file)
    env = _known_env(_load_profile(args))
    store = ChecklistStore(runbook)
    checked, total = store.progress()
    if args.json:
        print(
            json.dumps(
                visible_json({
                    "path": str(runbook.path),
                    "title": runbook.title,
                    "sections": [
                        {
                            "slug": s.slug,
                            "title": s.title,
                            "level": s.level,
                            "line": s.line,
                            "path": list(s.path),
                        }
                        for s in runbook.sections
                    ],
                    "steps": [step_json(s, env) for s in runbook.steps],
                    "checklist": {
                        "checked": checked,
                        "total": total,
                        "items": [
                            {
                                "id": i.id,
                                "section": i.section.slug,
                                "line": i.line,
                                "text": i.text,
                                "checked": store.state[i.id],
                            }
                            for i in runbook.checklist
                        ],
                    },
                    "problems": [f.format(runbook.path) for f in runbook.problems],
                }),
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    runnable = sum(s.runnable for s in runbook.steps)
    print(shown(f"{runbook.path}: {runbook.title}"))
    print(
        f"  {len(runbook.sections)} sections, {len(runbook.steps)} steps ({runnable} runnable), "
        f"checklist {checked}/{total}"
    )
    width = max((len(s.id) for s in runbook.steps), default=4)
    for step in runbook.steps:
        notes = []
        if not step.runnable:
            notes.append(f"not runnable: {step.reason}")
        constructs = [r.split(": ", 1)[1] for r in step.danger.reasons if ": " in r]
        if constructs and step.runnable:
            notes.append("; ".join(constructs))
        params = missing_params(step.placeholders, env)
        if params:
            notes.append("params: " + ", ".join(p.name for p in params))
        if step.expectations:
            notes.append("expected output")
        if step.repairs:
            notes.append(f"{len(step.repairs)} repair(s)")
        danger = step.danger.level if step.runnable else "-"
        print(
            f"  {shown(step.id):<{width}}  {step.line:>5}  "
            f"{shown(step.language or '-'):<8}  "
            + paint(f"{danger:<9}", _STYLE.get(danger, "dim"))
            + (f"  {shown(' | '.join(notes))}" if notes else "")
        )
    for problem in runbook.problems:
        print(f"  {shown(problem.format(runbook.path))}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One step in full."""
    from cockpit.core.runbooks.actions import dry_run_text
    from cockpit.core.runbooks.placeholders import missing_params

    runbook = _parse(args.file)
    env = _known_env(_load_profile(args))
    step = runbook.step(args.step)
    out = Boundary()
    if args.json:
        data = step_json(step, env)
        data["script"] = dry_run_text(step, env=env) if step.runnable else ""
        print(json.dumps(visible_json(data), indent=2, ensure_ascii=False))
        return 0
    section = " > ".join(step.section.path)
    print(shown(f"{step.id}  ({runbook.path}:{step.line}, section {section})"))
    print(
        shown(
            f"language: {step.language or '(none)'}  runnable: "
            + ("yes" if step.runnable else f"no — {step.reason}")
        )
    )
    print("danger: " + paint(step.danger.level, _STYLE[step.danger.level]))
    for reason in step.danger.reasons:
        print(f"  {shown(reason)}")
    print("as written:")
    first = step.line + (1 if step.kind == "block" else 0)
    written = out.stream()
    for k, text in enumerate(step.source.split("\n")):
        print(f"  {first + k:>5} | {written.line(text)}")
    if step.repairs:
        print("repaired (what runs instead):")
        for r in step.repairs:
            print(shown(f"  line {r.line}: {r.kind}: {r.message}"))
    params = missing_params(step.placeholders, env)
    if params:
        print("params:")
        for p in params:
            print(shown(f"  {p.name} (env {p.env_name}, line {p.line}): {p.description}"))
    for e in step.expectations:
        print(shown(f"expected output (line {e.line}, {e.source}):"))
        _print_text(e.text, out, indent="  ")
    if step.runnable:
        print("would run:")
        _print_text(dry_run_text(step, env=env), out)
    return 0


# -- run --------------------------------------------------------------------------------


def _parse_params(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-p expects KEY=VALUE, got {pair!r}")
        values[key.strip()] = value
    return values


def cmd_run(args: argparse.Namespace) -> int:
    """Run a step or a section."""
    import asyncio

    return asyncio.run(_run(args))


def _ask(step, request, yes: bool, where: str = "") -> bool:
    """A runbook step's confirmation, as the runner's policy asks it (caution: y/N;
    dangerous: type the step id): ``--yes``, a terminal's answer, or No."""
    from cockpit.cli.confirm import confirm_on_terminal

    return confirm_on_terminal(request, yes=yes, name=step.id, where=where)


def _prompt_missing(session, steps, values: dict[str, str]) -> None:
    """On a terminal, ask for params that have no value yet."""
    if not sys.stdin.isatty():
        return
    import getpass

    for _, param in session.params(steps):
        if param.name in values:
            continue
        ask = getpass.getpass if param.secret else input
        try:
            answer = ask(f"{param.name} ({param.description}): ")
        except EOFError:
            return
        if answer != "":  # nothing typed: left out, so "required" is reported
            values[param.name] = answer


async def _run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from cockpit.core.actions.runner import ActionRunner
    from cockpit.core.audit.trail import AuditTrail, default_trail_path
    from cockpit.core.environment import open_backend
    from cockpit.core.runbooks.session import RunbookSession

    runbook = _parse(args.file)
    steps = runbook.select(args.target)
    if not steps:
        print(
            Boundary().line(f"{runbook.path}: section {args.target!r} has no steps to run"),
            file=sys.stderr,
        )
        return 1
    loaded = _load_profile(args)
    backend = open_backend(loaded)
    await backend.ensure_connected()
    runner = ActionRunner(
        loaded,
        backend,
        AuditTrail(default_trail_path()),
        read_only=getattr(args, "read_only", False),
    )

    where = f"profile {loaded.name}, backend {backend.describe()}"
    out = Boundary(runner.redactor)
    streams: dict[tuple[str, str], Any] = {}  # one boundary stream per step and stream

    def show_line(step, line) -> None:
        stream = sys.stderr if line.stream == "stderr" else sys.stdout
        key = (step.id, line.stream)
        if key not in streams:
            streams[key] = out.stream()
        print(streams[key].line(line.text), file=stream, flush=True)

    def on_step(run) -> None:
        step = run.step
        if run.status == "running" and run.prepared is not None:
            print(
                paint(
                    f"▶ {step.id} ({step.danger.level}, line {step.line}) "
                    f"trace_id={run.prepared.trace_id}",
                    "dim",
                    sys.stderr,
                ),
                file=sys.stderr,
                flush=True,
            )
        elif run.status == "skipped":
            print(
                paint(out.line(f"- {step.id}: skipped — {run.message}"), "dim", sys.stderr),
                file=sys.stderr,
            )
        elif run.status != "dry-run":
            codes = ""
            if run.outcome is not None and run.outcome.decision.reason_codes:
                codes = f" [{', '.join(run.outcome.decision.reason_codes)}]"
            took = (
                f" ({run.outcome.duration:.2f}s)" if run.status != "denied" and run.outcome else ""
            )
            note = "" if run.message in ("", run.status) else f" — {run.message}"
            style = "ok" if run.status == "succeeded" else "crit"
            print(
                paint(out.line(f"■ {step.id}: {run.status}{codes}{note}{took}"), style, sys.stderr),
                file=sys.stderr,
                flush=True,
            )
            if run.status == "succeeded":
                for e in step.expectations:
                    print(paint(f"  expected (line {e.line}):", "dim", sys.stderr), file=sys.stderr)
                    expected = out.stream()
                    for text in e.text.split("\n"):
                        shown = f"    {expected.line(text)}"
                        print(paint(shown, "dim", sys.stderr), file=sys.stderr)

    session = RunbookSession(
        runbook,
        runner,
        confirm=lambda step, request: _ask(step, request, args.yes, where),
        on_line=show_line,
        on_step=on_step,
    )
    values = _parse_params(args.param)
    if not args.dry_run:
        _prompt_missing(session, steps, values)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(session.cancel()))
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(session.cancel()))
    try:
        runs = await session.run(steps, values, dry_run=args.dry_run)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        await backend.close()
    if args.dry_run:
        for run in runs:
            if run.status == "dry-run":
                _print_text(run.dry_run, out)
        return 0 if any(r.status == "dry-run" for r in runs) else 1
    ran = [r for r in runs if r.outcome is not None]
    if not ran:
        print(
            out.line(f"{runbook.path}: nothing ran ({args.target!r} has no runnable step)"),
            file=sys.stderr,
        )
        return 1
    for run in runs:
        if run.outcome is not None and run.status != "succeeded":
            return run.outcome.cli_exit_code
        if run.status == "cancelled":
            return 130
    return 0


# -- lint / checklist -------------------------------------------------------------------


def cmd_lint(args: argparse.Namespace) -> int:
    """``FILE:LINE: kind: message`` per finding; 1 when there are findings."""
    from cockpit.core.errors import ConfigError
    from cockpit.core.runbooks.lint import lint_lines

    status = 0
    out = Boundary()
    for file in args.files:
        try:
            runbook = _parse(file)
        except ConfigError as exc:
            status = report_problems(exc)
            continue
        lines = lint_lines(runbook, syntax=not args.no_syntax)
        for line in lines:
            print(out.line(line))
        if lines and status == 0:
            status = 1
    return status


def cmd_checklist(args: argparse.Namespace) -> int:
    """Show the checklist; ``--check``/``--uncheck``/``--toggle`` change and save it."""
    from cockpit.core.runbooks.checklist import ChecklistStore

    runbook = _parse(args.file)
    store = ChecklistStore(runbook)
    out = Boundary()
    if store.problem:
        print(out.line(store.problem), file=sys.stderr)
    for item_id in args.check:
        store.set(item_id, True)
    for item_id in args.uncheck:
        store.set(item_id, False)
    for item_id in args.toggle:
        store.toggle(item_id)
    checked, total = store.progress()
    if args.json:
        print(
            json.dumps(
                visible_json({
                    "path": str(runbook.path),
                    "state_file": str(store.path),
                    "checked": checked,
                    "total": total,
                    "items": [
                        {"id": i.id, "line": i.line, "text": i.text, "checked": store.state[i.id]}
                        for i in runbook.checklist
                    ],
                }),
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    print(out.line(f"{runbook.path}: checklist {checked}/{total}"))
    for item in runbook.checklist:
        box = "[x]" if store.state[item.id] else "[ ]"
        print(out.line(f"  {box} {item.id}  {item.text}  (line {item.line})"))
    return 0
