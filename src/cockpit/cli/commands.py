"""The CLI's commands; each takes the parsed arguments and returns an exit status."""

from __future__ import annotations

import gc
import os
import sys

from cockpit.cli.output import paint, print_json, report_problems, safe_text
from cockpit.core.errors import ConfigError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def _load(args: argparse.Namespace):
    from cockpit.core.config.discovery import find_profile
    from cockpit.core.config.loader import load_profile

    return load_profile(find_profile(args.profile))


def cmd_tui(args: argparse.Namespace) -> int:
    """Open the TUI on the profile (the default command)."""
    runbook = getattr(args, "runbook", None)
    if runbook is not None and not os.path.isfile(runbook):
        raise UsageError(f"{runbook}: no such runbook file")
    # Start-up creates well over 100,000 objects that nearly all stay alive: the
    # collector would walk them again and again (~80 ms of a ~1 s start). The app
    # collects once and turns it back on after its first frames (``_freeze_heap``).
    gc.disable()
    try:
        from cockpit.tui.launcher import run_tui

        return run_tui(args.profile, read_only=getattr(args, "read_only", False),
                       runbook=runbook)
    finally:
        gc.enable()


def cmd_actions(args: argparse.Namespace) -> int:
    """List the profile's actions."""
    loaded = _load(args)
    actions = loaded.profile.actions
    if args.json:
        print_json([a.model_dump(mode="json") for a in actions])
        return 0
    width = max((len(a.id) for a in actions), default=10)
    print(
        safe_text(f"profile {loaded.name} ({loaded.path})")
        + ("  [read-only]" if loaded.profile.read_only else "")
    )
    for action in actions:
        params = safe_text(" ".join(
            f"{p.name}={'<' + p.type + '>' if p.default is None else p.default}"
            for p in action.params
        ))
        danger = paint(
            f"{action.danger:9}", {"safe": "ok", "caution": "warn"}.get(action.danger, "crit")
        )
        print(
            f"  {action.id:{width}}  {danger}  {safe_text(action.title)}"
            + (f"  [{params}]" if params else "")
        )
    return 0


def _parse_params(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-p expects KEY=VALUE, got {pair!r}")
        values[key.strip()] = value
    return values


def cmd_run(args: argparse.Namespace) -> int:
    """Run one action and stream its output."""
    import asyncio

    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from cockpit.cli.confirm import confirm_on_terminal
    from cockpit.core.actions.runner import ActionRunner
    from cockpit.core.audit.trail import AuditTrail, default_trail_path
    from cockpit.core.environment import open_backend

    loaded = _load(args)
    backend = open_backend(loaded)
    await backend.ensure_connected()
    runner = ActionRunner(
        loaded,
        backend,
        AuditTrail(default_trail_path()),
        read_only=getattr(args, "read_only", False),
    )
    prepared = runner.prepare(args.action, _parse_params(args.param), trace_id=args.trace_id)
    where = f"profile {loaded.name}, backend {backend.describe()}"

    def confirm(request) -> bool:
        # asked only when the policy needs it (caution: y/N; dangerous: type the id)
        return confirm_on_terminal(request, yes=bool(args.yes), where=where)

    def show(line) -> None:
        # ActionRunner.run hands over lines that passed the boundary (one stream each
        # for stdout and stderr, so a key printed over several lines stays hidden).
        stream = sys.stderr if line.stream == "stderr" else sys.stdout
        print(line.text, file=stream, flush=True)

    def started(_prepared) -> None:
        if not args.json:
            print(
                paint(
                    f"▶ {prepared.action.id} ({prepared.action.danger}) "
                    f"trace_id={prepared.trace_id}",
                    "dim",
                    sys.stderr,
                ),
                file=sys.stderr,
                flush=True,
            )

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(prepared.cancel()))
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(prepared.cancel()))
    try:
        outcome = await runner.run(
            prepared, confirm=confirm, on_line=None if args.json else show, on_start=started
        )
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        await backend.close()
    if args.json:
        print_json(
            {
                "action": prepared.action.id,
                "status": outcome.status,
                "decision": outcome.decision.label,
                "reason_codes": outcome.decision.reason_codes,
                "exit_code": outcome.exit_code,
                "duration_s": round(outcome.duration, 3),
                "trace_id": outcome.trace_id,
                "message": outcome.message,
                "output_tail": outcome.output_tail,
            },
            prepared.redactor,
        )
    else:
        style = "ok" if outcome.status == "succeeded" else "crit"
        codes = (
            f" [{', '.join(outcome.decision.reason_codes)}]"
            if outcome.decision.reason_codes
            else ""
        )
        note = "" if outcome.message == outcome.status else f" — {safe_text(outcome.message)}"
        print(
            paint(
                f"■ {prepared.action.id}: {outcome.status}{codes}{note}"
                f" ({outcome.duration:.2f}s)",
                style,
                sys.stderr,
            ),
            file=sys.stderr,
        )
    return outcome.cli_exit_code


def cmd_check(args: argparse.Namespace) -> int:
    """Run every probe and sample every metric once; exit 1 if anything fails or is critical."""
    import asyncio

    return asyncio.run(_check(args))


async def _check(args: argparse.Namespace) -> int:
    import asyncio

    from cockpit.core.environment import open_backend
    from cockpit.core.sources.health import HealthChecker
    from cockpit.core.sources.metrics import MetricsSampler

    loaded = _load(args)
    backend = open_backend(loaded)
    checker = HealthChecker(loaded.profile.health, backend)
    sampler = MetricsSampler(loaded.profile.metrics, backend=backend)
    try:
        await backend.ensure_connected()
        rows = await checker.check_all()
        sampler.observe_probe(rows)
        samples = await sampler.sample_all()
        if any(getattr(m, "aggregate", "") in ("rate", "quantile") for m in loaded.profile.metrics):
            # Rates need two scrapes: take the second one a second later.
            await asyncio.sleep(1.0)
            samples = await sampler.sample_all()
    finally:
        await checker.close()
        await sampler.close()
        await backend.close()
    failed = [r for r in rows if r.state != "ok"]
    critical = [name for name, s in samples.items() if s.state == "crit"]
    metric_of = {m.name: m for m in loaded.profile.metrics}
    # the threshold a warn or crit reading passed: "crit < 0.85", "warn > 0.08"
    limits = {name: f"{s.state} {_threshold_text(getattr(metric_of[name], s.state))}"
              for name, s in samples.items()
              if s.state in ("warn", "crit") and name in metric_of}
    # The rows passed the boundary in HealthChecker; names of metrics and their errors
    # (a scrape's reply) pass it here, and the JSON document as a whole.
    if args.json:
        print_json(
            {
                "profile": loaded.name,
                "healthy": not failed and not critical,
                "health": [
                    {
                        "name": r.name,
                        "state": r.state,
                        "latency_ms": r.latency_ms,
                        "reason": r.reason,
                        "parent": r.parent,
                        **({"details": r.details} if r.details else {}),
                    }
                    for r in rows
                ],
                "metrics": [
                    {"name": name, "value": s.value, "state": s.state, "error": s.error,
                     **({"threshold": limits[name]} if name in limits else {})}
                    for name, s in samples.items()
                ],
            }
        )
    else:
        print(f"profile {safe_text(loaded.name)}")
        # names and sub-rows' names in one column, as wide as the longest (within 60)
        width = min(60, max([30, *(len(r.name) + (2 if r.parent else 0) for r in rows)]))
        for row in rows:
            symbol = {"ok": "✓", "fail": "✗"}.get(row.state, "?")
            latency = f"{row.latency_ms:7.1f}ms" if row.latency_ms is not None else "        -"
            indent = "    " if row.parent else "  "
            reason = f"  {row.reason}" if row.reason else ""
            name = f"{row.name:{width - len(indent) + 2}}"
            print(
                paint(
                    f"{indent}{symbol} {name} {latency}{reason}",
                    "ok" if row.state == "ok" else "fail",
                )
            )
        units = {m.name: m.unit for m in loaded.profile.metrics}
        for name, sample in samples.items():
            value = "n/a" if sample.value is None else f"{sample.value:.4g}"
            note = f"  {safe_text(sample.error)}" if sample.error else \
                f"  ({limits[name]})" if name in limits else ""
            symbol = {"ok": "✓", "warn": "!", "crit": "✗"}.get(sample.state, "?")
            shown = safe_text(f"{name:28} {value} {units.get(name, '')}")
            print(
                paint(
                    f"  {symbol} {shown}{note}",
                    sample.state if sample.state != "unknown" else "unknown",
                )
            )
        verdict = (
            "healthy"
            if not failed and not critical
            else (f"{len(failed)} failing check(s), {len(critical)} critical metric(s)")
        )
        print(paint(verdict, "ok" if not failed and not critical else "crit"))
    return 1 if failed or critical else 0


def _threshold_text(threshold: object) -> str:
    """``< 0.85`` / ``> 0.1`` (a metric's ``{below: X}`` / ``{above: X}``)."""
    above, below = getattr(threshold, "above", None), getattr(threshold, "below", None)
    if above is not None:
        return f"> {above:g}"
    return f"< {below:g}" if below is not None else ""


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate profile files; print ``FILE:LINE: problem`` for each problem."""
    from cockpit.core.config.loader import load_profile

    status = 0
    for file in args.files:
        try:
            loaded = load_profile(file)
        except ConfigError as exc:
            status = report_problems(exc)
            continue
        profile = loaded.profile
        print(safe_text(
            f"{file}: ok (profile {profile.name!r}: {len(profile.health)} probes, "
            f"{len(profile.logs)} log sources, {len(profile.metrics)} metrics, "
            f"{len(profile.actions)} actions)"
        ))
    return status


def cmd_profiles(args: argparse.Namespace) -> int:
    """List profiles found in the search path."""
    from cockpit.core.config.discovery import list_profiles, search_dirs

    found = list_profiles()
    if args.json:
        print_json(
            [
                {
                    "name": p.name,
                    "path": str(p.path),
                    "origin": p.origin,
                    "shadowed": p.shadowed,
                }
                for p in found
            ]
        )
        return 0
    print(safe_text(
        "search path: " + "  ".join(f"{origin}={path}" for origin, path in search_dirs())))
    for location in found:
        note = "  (shadowed)" if location.shadowed else ""
        print(safe_text(f"  {location.name:20} {location.origin:9} {location.path}{note}"))
    return 0
