"""``cockpit``: open the TUI, or drive the core headless (run, check, audit, ...)."""

from __future__ import annotations

import os
import sys

from cockpit import __version__
from cockpit.core.errors import CockpitError

TYPE_CHECKING = False  # (typing is ~10 ms: not before an audit query's children start)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

EXIT_CODES = """exit status:
  0    success
  1    failed checks or a failed action (an action's own non-zero exit status is kept)
  2    usage or configuration error
  3    denied by policy (read-only, not confirmed, audit trail unwritable)
  124  an action timed out
  130  cancelled (Ctrl-C)
"""


def _add_runbook(parser: argparse.ArgumentParser) -> None:
    import argparse

    parser.add_argument(
        "--runbook", metavar="FILE.md", default=argparse.SUPPRESS,
        help="open this Markdown runbook in the TUI (its steps run through the profile)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, for ``--help`` and dispatch."""
    import argparse

    from cockpit.cli import commands
    from cockpit.cli.args import add_params, add_profile, add_read_only

    parser = argparse.ArgumentParser(
        prog="cockpit",
        description="Watch a system and run its runbook: health, logs, audit, metrics, actions.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    add_profile(parser, top=True)
    add_read_only(parser, top=True)
    _add_runbook(parser)
    parser.set_defaults(func=commands.cmd_tui)
    from cockpit.cli.audit_cmd import add_audit_parser
    from cockpit.cli.runbook_cmd import add_runbook_parser
    from cockpit.cli.targets_cmd import add_targets_parser

    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    tui = sub.add_parser("tui", help="open the cockpit TUI (the default)")
    add_profile(tui)
    add_read_only(tui)
    _add_runbook(tui)
    tui.set_defaults(func=commands.cmd_tui)

    actions = sub.add_parser("actions", help="list the profile's actions")
    add_profile(actions)
    actions.add_argument("--json", action="store_true", help="machine-readable output")
    actions.set_defaults(func=commands.cmd_actions)

    run = sub.add_parser(
        "run",
        help="run one action (validated, policy-checked, audited)",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_profile(run)
    run.add_argument("action", help="action id (see 'cockpit actions')")
    add_params(run, confirm_help="confirm a caution or dangerous action without a prompt "
                                "(needed without a terminal)")
    add_read_only(run)
    run.add_argument("--json", action="store_true", help="print the outcome record as JSON")
    run.add_argument("--trace-id", default=None, help="use this trace id instead of a new one")
    run.set_defaults(func=commands.cmd_run)

    check = sub.add_parser("check", help="run every health probe and metric threshold once")
    add_profile(check)
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=commands.cmd_check)

    validate = sub.add_parser("validate", help="validate profile files (FILE:LINE: problem)")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=commands.cmd_validate)

    profiles = sub.add_parser("profiles", help="list the profiles found and where")
    profiles.add_argument("--json", action="store_true", help="machine-readable output")
    profiles.set_defaults(func=commands.cmd_profiles)

    add_targets_parser(sub)
    add_audit_parser(sub)
    add_runbook_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cockpit`` console script."""
    whole_process = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["audit"] and not {"-h", "--help"} & set(argv):
        # an audit query in an incident: only its own parser and modules (~60 ms less);
        # a query for one literal (a trace id) has its scan started first, in forked
        # children that work while the imports are done (core.audit.literal_scan)
        shape = _tail_shape(argv[1:])
        if shape is not None and shape["json"] and shape["lines"] > 0:
            import gc

            collecting = gc.isenabled()
            gc.disable()  # (a short process: the collections its imports set off are ms)
            try:
                code = _tail_fast(shape)
            finally:
                if collecting:
                    gc.enable()
            if code is not None:
                if whole_process:  # answered: the interpreter's teardown is ms more
                    _exit(code)
                return code
        from cockpit.cli.audit_cmd import main as audit_main

        return audit_main(argv[1:], shape)
    if whole_process:  # (the process is the cockpit's: no plugin of pydantic to find)
        from cockpit.core.pydantic_plugins import skip_discovery

        skip_discovery()
    args = build_parser().parse_args(argv) if argv else bare_args()
    if getattr(args, "profile", None) is None:
        args.profile = os.environ.get("COCKPIT_PROFILE") or "demo"
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CockpitError as exc:
        from cockpit.cli.output import err, safe_text

        # a message may quote what the user or a file gave (a path, a value): the boundary
        for line in str(exc).splitlines() or [type(exc).__name__]:
            line = safe_text(line)
            err(line) if not getattr(exc, "problems", None) else print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _exit(code: int) -> None:
    """End this process now, its output flushed, without the interpreter's teardown; a
    flush that fails but for a closed pipe makes a success 120, as Python's own exit."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # (a closed pipe: nothing more can be said)
            pass
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)


def bare_args() -> Any:
    """What the parser gives a bare ``cockpit`` (open the TUI), without building it:
    argparse is start-up work too."""
    from types import SimpleNamespace

    from cockpit.cli import commands

    return SimpleNamespace(profile=None, read_only=False, func=commands.cmd_tui)


def _tail_shape(argv: list[str]) -> dict[str, Any] | None:
    """The options argparse gives ``tail FILE [-w|--where EXPR]... [--json]
    [-n|--lines N]...`` (FILE first, every token exact, no value starting with "-"), read
    without argparse (~5 ms less for an incident query); None for any other command line
    (argparse reads it, and says what is wrong with it). Also None in a process with
    threads (no fork there)."""
    if "threading" in sys.modules and sys.modules["threading"].active_count() > 1:
        return None
    if len(argv) < 2 or argv[0] != "tail" or not argv[1] or argv[1].startswith("-"):
        return None
    where: list[str] = []
    shape: dict[str, Any] = {"command": "audit", "audit_command": "tail", "path": argv[1],
                             "where": where, "lines": 20, "follow": False, "json": False,
                             "count": False, "total": False}
    rest = iter(argv[2:])
    for arg in rest:
        if arg in ("-w", "--where"):
            value = next(rest, "-")
            if value.startswith("-"):
                return None
            where.append(value)
        elif arg in ("-n", "--lines"):
            value = next(rest, "")
            if not (value.isascii() and value.isdigit()):
                return None
            shape["lines"] = int(value)
        elif arg == "--json":
            shape["json"] = True
        else:
            return None
    return shape


def _tail_fast(shape: dict[str, Any]) -> int | None:
    """``audit_cmd.tail_fast`` with its children started first; None (the children
    stopped) where the normal path answers."""
    scan = _start_literal_scan(shape)
    if scan is None:
        return None
    matcher = None
    try:
        # a child imports the filter and matches; this process imports the renderer
        # meanwhile (each half of the imports on its own CPU); what both halves import
        # is imported once, before the fork
        import re  # noqa: F401

        matcher = scan.start_matcher(shape["where"], shape["lines"])
        from cockpit.cli.audit_cmd import tail_fast

        return tail_fast(shape, scan, matcher)
    finally:
        scan.cancel()
        if matcher is not None:
            matcher.cancel()


def _start_literal_scan(shape: dict[str, Any]) -> Any:
    """For ``audit tail FILE`` (``shape``, its options) whose expressions give a long
    literal the filter's prefilter requires: the started ``literal_scan`` (which
    ``audit_cmd.cmd_tail`` uses only after checking the literal against the filter it
    parsed), else None."""
    path, exprs = shape["path"], shape["where"]
    from cockpit.core.audit import literal_scan

    best: tuple[bytes, bool, bool] | None = None
    for expr in exprs:
        guess = _literal_of(expr)
        if guess is not None and literal_scan.search_key(*guess[:2]) is not None and (
                best is None or len(guess[0]) > len(best[0])):
            best = guess
    if best is None:
        return None
    literal, ignore_case, escapes = best
    min_size = os.environ.get("COCKPIT_LITERAL_SCAN_MIN", "")  # tests: small files too
    return literal_scan.start(os.path.expanduser(path), literal, ignore_case,
                              escapes=escapes, min_size=int(min_size)
                              if min_size.isdigit() else literal_scan.MIN_SIZE)


def _literal_of(expr: str) -> tuple[bytes, bool, bool] | None:
    """(literal, ignore_case, escapes) the prefilter would give ``expr``
    (``query.parse_filter``) for the simple shapes: free text, ``field=value``. A guess:
    ``cmd_tail`` uses the scan only if ``parse_filter`` gives the same."""
    text = expr.strip()
    if not text or not text.isascii() or text.startswith(("has:", "!has:")):
        return None
    cut = min((i for i in (text.find(c) for c in "=!~<>") if i != -1), default=-1)
    if cut == -1:  # free text: case-insensitive if it holds a letter; the raw line
        return text.encode(), text.lower() != text.upper(), False
    value = text[cut + 1:]
    if (text[cut] != "=" or cut == 0 or not text[:cut].replace("_", "a").isalnum()
            or not value.isprintable() or value in ("true", "false", "null")
            or any(c in value for c in '"\\/{[') or not any(c.isalpha() for c in value)):
        return None
    return b'"' + value.encode() + b'"', False, True


if __name__ == "__main__":
    raise SystemExit(main())
