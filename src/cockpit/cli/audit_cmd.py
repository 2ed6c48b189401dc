"""``cockpit audit verify|tail|stats``: check the operator trail, query any audit log.

Wire it with ``add_audit_parser(subparsers)``; each leaf parser sets ``func``, a handler
``(args) -> int``. Errors are one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from cockpit.core.errors import CockpitError

#: Fields shown first in a record's one-line summary, in this order.
_SUMMARY_FIELDS = (
    "seq", "event_type", "action", "params", "event", "decision", "outcome", "status",
    "exit_code", "reason_codes", "executor_id", "profile", "target", "user", "operator",
    "trace_id",
    "duration", "error", "message", "msg",
)
_TIME_FIELDS = ("ts_utc", "ts", "timestamp", "time", "@timestamp")
_HIDDEN_FIELDS = frozenset({"hash", "prev"})
_MAX_SUMMARY = 240


def add_audit_parser(subparsers: Any) -> None:
    """Add ``audit`` with its subcommands to an argparse ``subparsers`` object."""
    audit = subparsers.add_parser(
        "audit", help="verify the operator trail, query an audit log",
        description="Verify the cockpit's hash-chained operator trail and query any "
                    "JSON-lines audit file.",
    )
    audit.set_defaults(func=lambda args: _usage(audit))
    sub = audit.add_subparsers(dest="audit_command", metavar="COMMAND")

    verify = sub.add_parser("verify", help="check the hash chain of an audit trail")
    verify.add_argument("path", nargs="?", help="trail file (default: the operator trail)")
    verify.set_defaults(func=cmd_verify)

    tail = sub.add_parser("tail", help="print the last matching records")
    tail.add_argument("path", nargs="?", help="audit file (default: the operator trail)")
    _add_where(tail)
    tail.add_argument("-n", "--lines", type=_non_negative, default=20, metavar="N",
                      help="how many records (default 20)")
    tail.add_argument("-f", "--follow", action="store_true",
                      help="keep printing new matching records until Ctrl-C")
    tail.add_argument("--json", action="store_true", help="print the raw JSON lines")
    tail.add_argument("--count", action="store_true",
                      help="print only the number of matching records in the whole file")
    tail.set_defaults(func=cmd_tail)

    stats = sub.add_parser("stats", help="count records by the values of a field")
    stats.add_argument("path", nargs="?", help="audit file (default: the operator trail)")
    stats.add_argument("--by", required=True, metavar="FIELD",
                       help="field to count by (dotted path; arrays count each element)")
    _add_where(stats)
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=cmd_stats)


def _add_where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w", "--where", action="append", default=[], metavar="EXPR",
        help="filter (repeatable, ANDed): field=value, field!=value, field~regex, "
             "field>N, has:field, !has:field, or free text",
    )


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _fail(message: str) -> int:
    from cockpit.core.boundary import Boundary

    print(f"cockpit audit: {Boundary().line(message)}", file=sys.stderr)
    return 2


def _path(arg: str | None) -> tuple[Path, bool]:
    if arg:
        return Path(arg).expanduser(), False
    from cockpit.core.audit.trail import default_trail_path

    return default_trail_path(), True


def _check_file(path: Path) -> str | None:
    if not path.exists():
        return f"no such file: {path}"
    if path.is_dir():
        return f"is a directory: {path}"
    if not os.access(path, os.R_OK):
        return f"cannot read {path}"
    return None


# --- verify ------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 if every record is intact, 1 naming the first bad line, 2 on errors."""
    from cockpit.core.audit.trail import verify_trail

    path, default = _path(getattr(args, "path", None))
    if default and not path.exists():
        print(f"OK: 0 records (no operator trail yet at {path})")
        return 0
    problem = _check_file(path)
    if problem:
        return _fail(problem)
    try:
        report = verify_trail(path)
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    if report.ok:
        print(f"OK: {report.count} records intact ({path})")
        return 0
    label = "TORN" if report.torn_tail else "FAIL"
    print(f"{label}: {report.problem} ({path}); {report.count} records intact before it")
    return 1


# --- tail --------------------------------------------------------------------------------


def cmd_tail(args: argparse.Namespace) -> int:
    """Print the last matching records (``--count``: their number; ``--follow``: and more)."""
    from cockpit.core.audit.query import RecordFilter, scan_file
    from cockpit.core.boundary import Boundary

    path, _ = _path(getattr(args, "path", None))
    where = list(getattr(args, "where", None) or [])
    try:
        filt = RecordFilter(where)
    except CockpitError as exc:
        return _fail(str(exc))
    problem = _check_file(path)
    if problem:
        return _fail(problem)
    out = sys.stdout
    try:
        if getattr(args, "count", False):
            result = scan_file(path, where, count_only=True)
            print(result.matched, file=out)
            return 0
        boundary = Boundary()  # records are outside text: through the boundary
        as_json = bool(getattr(args, "json", False))
        lines = getattr(args, "lines", 20)
        # Follow from where the file ended *before* the scan: a record written meanwhile
        # may print twice, but none is lost.
        try:
            start = path.stat().st_size
        except FileNotFoundError:
            start = 0
        result = scan_file(path, where, tail=lines)
        for rec in result.records:
            _print_record(rec, as_json, boundary, out)
        out.flush()
        if getattr(args, "follow", False):
            return _follow(path, filt, as_json, boundary, out, start)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    except CockpitError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    return 0


def _follow(path: Path, filt: Any, as_json: bool, boundary: Any, out: TextIO,
            start: int, interval: float = 0.25) -> int:
    """Print matching records appended to ``path`` after byte ``start`` until Ctrl-C
    (exit 130, quietly).

    The core's ``FileFollower`` does the following: rotation, truncation and partial
    lines are handled once, for the panes and this command alike; its notices go to
    stderr.
    """
    import asyncio

    from cockpit.core.audit.query import parse_record
    from cockpit.core.sources.logs import FileFollower

    async def follow() -> None:
        follower = FileFollower(path, backlog=0, poll_interval=interval, start=start)
        async for item in follower.raw_events():
            if isinstance(item, str):
                print(f"-- {boundary.line(item)} --", file=sys.stderr, flush=True)
                continue
            for line in item:
                if line.strip():
                    rec = parse_record(line)
                    if filt.matches_record(rec):
                        _print_record(rec, as_json, boundary, out)
            out.flush()

    try:
        asyncio.run(follow())
    except KeyboardInterrupt:
        return 130
    return 0


def _quiet_broken_pipe() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def _print_record(rec: Any, as_json: bool, boundary: Any, out: TextIO) -> None:
    """One record through the boundary: JSON (every string made safe, then serialised, so
    it stays valid JSON) or a one-line summary."""
    if as_json and rec.data is not None:
        print(json.dumps(boundary.obj(rec.data), ensure_ascii=False), file=out)
        return
    if as_json:
        text = rec.raw  # a malformed line, as it is (through the boundary)
    elif rec.data is None:
        where = f"line {rec.line}: " if rec.line else ""
        text = f"!! malformed ({where}{rec.error}): {_clip(rec.raw, 160)}"
    else:
        text = summarize(rec.data)
    print(boundary.line(text), file=out)


def summarize(data: dict[str, Any]) -> str:
    """A compact one-line summary: the time, then the most useful fields as key=value."""
    time_key = next((k for k in _TIME_FIELDS if isinstance(data.get(k), str)), None)
    parts: list[str] = [data[time_key]] if time_key else []
    shown = {time_key}
    keys = [k for k in _SUMMARY_FIELDS if k in data]
    keys += [k for k in data if k not in _SUMMARY_FIELDS and k not in _TIME_FIELDS
             and k not in _HIDDEN_FIELDS]
    length = sum(len(p) + 1 for p in parts)
    for key in keys:
        if key in shown:
            continue
        value = data[key]
        if (value is None or value == "" or value == [] or value == {}) and (
                key != "reason_codes"):
            continue
        text = f"{key}={_compact(value)}"
        if length + len(text) > _MAX_SUMMARY and key not in _SUMMARY_FIELDS:
            parts.append("…")
            break
        parts.append(text)
        length += len(text) + 1
    return " ".join(parts)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return _clip(value, 80) if " " not in value else repr(_clip(value, 80))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ",".join(value) + "]"
    return _clip(orjson.dumps(value).decode(), 80)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- stats -------------------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace) -> int:
    """Counts of a field's values, most frequent first, with totals."""
    from cockpit.core.audit.query import RecordFilter, count_by
    from cockpit.core.boundary import Boundary

    path, _ = _path(getattr(args, "path", None))
    where = list(getattr(args, "where", None) or [])
    try:
        RecordFilter(where)
        problem = _check_file(path)
        if problem:
            return _fail(problem)
        result = count_by(path, args.by, where)
    except CockpitError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    line = Boundary().line  # the values counted are outside text
    ordered = sorted(result.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    try:
        if getattr(args, "json", False):
            doc = {
                "field": args.by,
                "counts": {line(k): v for k, v in ordered},
                "total": result.total,
                "matched": result.matched,
                "missing": result.missing,
                "malformed": result.malformed,
            }
            sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
            return 0
        width = max([len(str(v)) for _, v in ordered] + [5])
        print(f"{'count':>{width}}  {args.by}")
        for key, n in ordered:
            print(f"{n:>{width}}  {line(key)}")
        print(f"-- {result.total} lines, {result.matched} matched, {result.missing} without "
              f"{args.by}, {result.malformed} malformed")
    except BrokenPipeError:
        _quiet_broken_pipe()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``audit ...`` on its own (``python -m cockpit.cli.audit_cmd verify``)."""
    parser = argparse.ArgumentParser(prog="cockpit")
    add_audit_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["audit", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
