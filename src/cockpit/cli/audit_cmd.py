"""``cockpit audit verify|init|tail|stats``: check and seal the operator trail, query logs.

Wire it with ``add_audit_parser(subparsers)``; each leaf parser sets ``func``, a handler
``(args) -> int``. Errors are one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

from cockpit.core.errors import CockpitError
from cockpit.core.lazy import LazyModule

TYPE_CHECKING = False  # (typing and pathlib: milliseconds of a trace-id query)

if TYPE_CHECKING:
    import argparse
    from pathlib import Path
    from typing import Any, TextIO

    import orjson
else:  # its uses here are not on a trace-id query's path (a child parses)
    orjson = LazyModule("orjson", globals())

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

    verify = sub.add_parser(
        "verify", help="check the operator trail: chain, seals, checkpoints",
        description="Check the hash chain and, when available, the seals (with the "
                    "verification key), the newest witness checkpoint and the seal state; "
                    "say what could not be checked. Exit 0 intact, 1 tampered or torn.")
    verify.add_argument("path", nargs="?", help="trail file (default: the operator trail)")
    verify.add_argument("--key", action="append", default=[], metavar="FILE|HEX",
                        help="verification key (repeatable; default: $COCKPIT_AUDIT_KEY, "
                             "else <trail>.verify-key if it is still next to the trail)")
    verify.add_argument("--witness", action="append", default=[], metavar="FILE",
                        help="checkpoint file to check against (repeatable; 'none' for "
                             "none; default: the configured file witnesses)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(func=cmd_verify)

    init = sub.add_parser(
        "init", help="start sealing the operator trail and print its verification key",
        description="Start forward-secure sealing (if not started) and print the "
                    "verification key, to be kept off this host.")
    init.add_argument("path", nargs="?", help="trail file (default: the operator trail)")
    init.add_argument("--force", action="store_true",
                      help="start a new key even if sealing has started (recorded as a "
                           "break in the trail)")
    init.set_defaults(func=cmd_init)

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
    tail.add_argument("--total", action="store_true",
                      help="after the records, print 'matched: N' (every matching record "
                           "of the whole file) to stderr")
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
    import argparse

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
    from pathlib import Path

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
    """Exit 0 if intact, 1 on tampering or a torn tail, 2 on errors; say what was unchecked."""
    from cockpit.core.audit.check import check_trail, local_keys
    from cockpit.core.audit.seal import load_verify_key

    path, default = _path(getattr(args, "path", None))
    if path.exists():
        problem = _check_file(path)
        if problem:
            return _fail(problem)
    key_args = list(getattr(args, "key", None) or [])
    notes: list[str] = []
    if not key_args:
        key_args, notes = local_keys(path)
    try:
        keys = [load_verify_key(k) for k in key_args]
    except (OSError, ValueError) as exc:
        return _fail(f"verification key: {getattr(exc, 'strerror', None) or exc}")
    files = list(getattr(args, "witness", None) or [])
    from pathlib import Path

    witness_files = None if not files else [
        Path(f).expanduser() for f in files if f != "none"]
    try:
        result = check_trail(path, keys=keys, witness_files=witness_files)
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    if not path.exists() and result.ok and not getattr(args, "json", False):
        if not default:
            return _fail(f"no such file: {path}")
        print(f"OK: 0 records (no operator trail yet at {path})")
        for line in result.unchecked:
            print(f"NOT CHECKED: {line}")
        return 0
    if getattr(args, "json", False):
        doc = result.to_json()
        doc["notes"] = notes
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0 if result.ok else 1
    if result.ok:
        print(f"OK: {result.count} records intact ({path})")
    elif result.problems:
        print(f"FAIL: {result.problems[0]} ({path}); {result.count} records intact before "
              "the first broken link" if result.first_bad_line else
              f"FAIL: {result.problems[0]} ({path})")
        for more in result.problems[1:]:
            print(f"FAIL: {more}")
    if result.torn_tail:
        print(f"TORN: line {result.first_bad_line}: torn last line (incomplete write); the "
              f"next append moves it to quarantine ({path}); {result.count} records intact "
              "before it")
    for line in result.checked:
        print(f"checked: {line}")
    for line in result.unchecked:
        print(f"NOT CHECKED: {line}")
    for line in notes:
        print(f"note: {line}")
    return 0 if result.ok else 1


def cmd_init(args: argparse.Namespace) -> int:
    """Start sealing the trail (a first sealed record) and print the verification key."""
    from cockpit.core.audit.seal import key_path, read_state, state_path
    from cockpit.core.audit.trail import AuditTrail

    path, _ = _path(getattr(args, "path", None))
    trail = AuditTrail(path)
    try:
        state = read_state(state_path(path))
    except ValueError:
        state = None
        if not getattr(args, "force", False):
            return _fail(f"the seal state {state_path(path)} is unreadable: use --force")
    if state is not None and not getattr(args, "force", False):
        where = key_path(path)
        print(f"sealing has started already (state {state_path(path)}, key {state.index}).")
        if where.exists():
            print(f"The verification key is still next to the trail: {where}; move it off "
                  "this host.")
        return 0
    if state_path(path).exists():
        os.replace(state_path(path), state_path(path).with_name(
            state_path(path).name + ".replaced"))
    try:
        trail.append({"action": "audit-seal-init", "status": "sealed",
                      "detail": "forward-secure sealing starts with a new verification key"})
    except CockpitError as exc:
        return _fail(str(exc))
    created = trail.key_created
    if created is None:
        return _fail("no new key was written")
    print("Verification key (keep it OFF this host; verify with "
          "'cockpit audit verify --key FILE'):")
    print(created.read_text().strip())
    print(f"It is also in {created} (0600): move it elsewhere, then delete it here.")
    for notice in trail.take_notices():
        print(f"warning: {notice}", file=sys.stderr)
    return 0


# --- tail --------------------------------------------------------------------------------


def cmd_tail(args: argparse.Namespace) -> int:
    """Print the last matching records (``--count``: their number; ``--follow``: and more)."""
    from cockpit.core.audit.query import RecordFilter, scan_file
    from cockpit.core.audit.tail import TailSummary, write_tail
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
        summary = TailSummary()
        out.flush()
        sink = _BinaryOut(out)
        write_tail(path, where, lines, _Render(as_json, boundary, sink.encoding, sink.errors),
                   sink, summary, numbered=not as_json)
        sink.flush()
        if getattr(args, "total", False):
            matched = summary.matched
            if matched is None:  # found near the end: count the rest too
                matched = scan_file(path, where, count_only=True).matched
            print(f"matched: {matched}", file=sys.stderr, flush=True)
        if getattr(args, "follow", False):
            return _follow(path, filt, as_json, boundary, out, start)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    except CockpitError as exc:
        return _fail(str(exc))
    except OutputError as exc:
        return _fail(f"cannot write the output: {exc.strerror or exc}")
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    return 0


def tail_fast(shape: dict[str, Any], scan: Any, matcher: Any) -> int | None:
    """``cmd_tail`` for ``shape`` (``cli.main``'s simple ``tail`` options) from what the
    children ``cli.main`` started found (``core.audit.literal_scan``: the candidate
    lines, then the ``Matcher``'s last ``n`` matches, picked by the query's own code);
    this process only renders them, as ``cmd_tail`` does. None where the answer could
    differ from ``cmd_tail``'s (text output, a problem with the file, a child's "no"):
    then ``cmd_tail`` answers, from the start, having printed nothing yet."""
    if matcher is None or not shape["json"] or shape["lines"] <= 0:
        return None
    path = os.path.expanduser(shape["path"])
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        return None  # (cmd_tail says what is wrong)
    # the renderer's modules, while the children work (``_Render`` imports redact_json)
    import cockpit.core.redact_json  # noqa: F401
    from cockpit.core.boundary import Boundary

    boundary = Boundary()
    try:
        found = scan.lines()
        got = matcher.result(found) if found is not None else None
    except KeyboardInterrupt:
        return 130
    except OSError:  # (a pipe): nothing printed yet, the normal path answers
        return None
    if got is None:
        return None
    batch, lines, items, malformed = got
    for i, raw in malformed.items():  # what ``_record_text`` reads of a JSON line's record
        items[i] = _Malformed(raw)
    out = sys.stdout
    try:
        out.flush()
        sink = _BinaryOut(out)
        render = _Render(True, boundary, sink.encoding, sink.errors)
        for at in range(0, len(lines), batch):
            sink.write(render(lines[at:at + batch], items[at:at + batch]))
        sink.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    except CockpitError as exc:
        return _fail(str(exc))
    except OutputError as exc:
        return _fail(f"cannot write the output: {exc.strerror or exc}")
    except OSError as exc:
        return _fail(f"cannot read {os.path.expanduser(shape['path'])}: {exc.strerror or exc}")
    return 0


class _Malformed:
    """A malformed line's record as the JSON output prints it (``_record_text``: its raw
    text through the boundary; no line number, no reason)."""

    __slots__ = ("data", "raw")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.data = None


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


class _Render:
    """A batch of matches as printed: each through the boundary, as ``_print_record``
    prints one. With ``--json`` a record the boundary would leave as it is is printed as
    it was read (``redact_json.raw_lines_to_rewrite``: no parse, no re-serialisation)."""

    def __init__(self, as_json: bool, boundary: Any, encoding: str, errors: str) -> None:
        import codecs

        self.as_json = as_json
        self.boundary = boundary
        self.encoding = encoding
        self.errors = errors
        self.utf8 = codecs.lookup(encoding).name == "utf-8"
        self.summaries: _Summaries | None = None

    def __call__(self, lines: list[bytes], items: list[Any]) -> bytes:
        boundary = self.boundary
        if not self.as_json:
            if self.summaries is None:
                self.summaries = _Summaries(boundary)
            records = [i for i, item in enumerate(items) if item.__class__ is dict]
            if len(records) == len(items):
                text = self.summaries.lines(items)
            else:
                text = ["" if item.__class__ is dict else _record_text(item, False, boundary)
                        for item in items]
                for i, line in zip(records, self.summaries.lines(
                        [items[i] for i in records]), strict=True):
                    text[i] = line
            return ("\n".join(text) + "\n").encode(self.encoding, self.errors)
        from cockpit.core.redact_json import raw_lines_to_rewrite

        records = [i for i, item in enumerate(items) if item.__class__ is dict]
        if len(records) == len(items):
            rewrite = raw_lines_to_rewrite(boundary.redactor, lines, boundary.text_limit)
        else:
            found = raw_lines_to_rewrite(boundary.redactor, [lines[i] for i in records],
                                         boundary.text_limit)
            rewrite = {records[i] for i in found}
        enc, errors = self.encoding, self.errors
        out = list(lines) if self.utf8 else [  # (a malformed line is replaced below)
            line.decode("utf-8", "replace").encode(enc, errors) for line in lines]
        for i, item in enumerate(items):
            if item.__class__ is not dict:
                out[i] = _record_text(item, True, boundary).encode(enc, errors)
            elif i in rewrite:
                import json

                out[i] = json.dumps(boundary.obj(item), ensure_ascii=False).encode(enc, errors)
        out.append(b"")
        return b"\n".join(out)


class OutputError(OSError):
    """Writing the output failed (a full disk, a closed terminal): not the file read."""


class _BinaryOut:
    """``out``'s bytes underneath (or, for a text stream without one, decoded into it);
    a failed write raises ``OutputError`` (a closed pipe stays ``BrokenPipeError``)."""

    def __init__(self, out: TextIO) -> None:
        self.text = out
        self.raw = getattr(out, "buffer", None)
        self.encoding = getattr(out, "encoding", None) or "utf-8"
        self.errors = getattr(out, "errors", None) or "strict"
        if self.raw is None:
            self.encoding, self.errors = "utf-8", "surrogateescape"

    def write(self, data: bytes) -> int:
        try:
            if self.raw is not None:
                return int(self.raw.write(data))
            return self.text.write(data.decode(self.encoding, self.errors))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc.errno, exc.strerror) from None

    def flush(self) -> None:
        try:
            (self.raw if self.raw is not None else self.text).flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc.errno, exc.strerror) from None


def _record_text(rec: Any, as_json: bool, boundary: Any) -> str:
    """A malformed line: as it is (JSON output) or marked, through the boundary."""
    if as_json:
        return boundary.line(rec.raw)
    where = f"line {rec.line}: " if rec.line else ""
    return boundary.line(f"!! malformed ({where}{rec.error}): {_clip(rec.raw, 160)}")


def _print_record(rec: Any, as_json: bool, boundary: Any, out: TextIO) -> None:
    """One record through the boundary: JSON (every string made safe, then serialised, so
    it stays valid JSON) or a one-line summary."""
    if as_json and rec.data is not None:
        import json

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


_SUMMARY_SET = frozenset(_SUMMARY_FIELDS)
_NUMBER_CHARS = "0123456789.-+eE"
_HEXDASH = "0123456789abcdef-"


class _Summaries:
    """``boundary.line(summarize(data))``, record after record, for less: the fields to
    show are planned once per sequence of keys, and the line skips the redactor when
    each of its pieces is inert (``redact.piece_is_inert``: then ``redact_known`` would
    return the line as it is); escapes are made visible and the length bounded as ever."""

    def __init__(self, boundary: Any) -> None:
        import re

        from cockpit.core.boundary import bound, show_controls
        from cockpit.core.redact import piece_is_inert
        from cockpit.core.secret_rules import _TOKEN_GATE

        self.boundary = boundary
        self.fast = not boundary.redactor.has_literals
        self.plans: dict[tuple[str, ...], tuple[list[str], list[tuple[str, str, bool, Any]]]] = {}
        self.inert: dict[str, bool] = {}
        self.key_ok: dict[str, bool] = {}  #: a key's ``key=`` is inert, starts well
        self.memo: dict[str, dict[Any, tuple[str | None, bool]]] = {}
        self.piece_is_inert = piece_is_inert
        self.token_gate = _TOKEN_GATE
        self.bound = bound
        self.show_controls = show_controls
        time = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:?\d\d)?"
        self.time = re.compile(time)
        self.times = re.compile(rf"(?:{time}\n)*{time}")

    def _plan(self, keys: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str, bool, Any]]]:
        present = set(keys)
        times = [k for k in _TIME_FIELDS if k in present]
        order = [k for k in _SUMMARY_FIELDS if k in present]
        order += [k for k in keys if k not in _SUMMARY_SET and k not in _TIME_FIELDS
                  and k not in _HIDDEN_FIELDS]
        for k in order:
            if k not in self.key_ok:
                self.key_ok[k] = (k[:1] not in ("", ":", "=") and not k[:1].isspace()
                                  and self._inert(f"{k}="))
        fields = [(k, f"{k}=", k in _SUMMARY_SET, self.memo.setdefault(k, {}))
                  for k in order]
        if len(self.plans) > 1024:
            self.plans.clear()
        plan = self.plans[keys] = (times, fields)
        return plan

    def _inert(self, piece: str) -> bool:
        ok = self.inert.get(piece)
        if ok is None:
            if len(piece) <= 16 and not piece.strip(_NUMBER_CHARS):
                return True  # a number: no gate fragment, no run of 16
            # not remembered (one of a kind): a trace id or digest, inert without ``4b1d``
            # or a token gate (a dash and 16 more), the one word of theirs a gate knows;
            # a time (digits, ``-:.+``, ``T`` between digits, ``Z`` last): no fragment
            if not piece.strip(_HEXDASH):
                return "4b1d" not in piece and self.token_gate.search(piece) is None
            if piece[:1].isdigit() and self.time.fullmatch(piece):
                return True
            ok = self.piece_is_inert(piece)
            if len(self.inert) >= 65536:
                self.inert.clear()
            self.inert[piece] = ok
        return ok

    def line(self, data: dict[str, Any]) -> str:
        """What ``boundary.line(summarize(data))`` gives."""
        keys = tuple(data)
        plan = self.plans.get(keys)
        times, fields = plan if plan is not None else self._plan(keys)
        inert = self.inert
        parts: list[str] = []
        ok = self.fast
        length = 0
        for key in times:
            value = data[key]
            if value.__class__ is str:
                parts.append(value)
                length = len(value) + 1
                ok = ok and (inert.get(value) or self._inert(value))
                break
        gate = self.token_gate.search
        for key, prefix, core, memo in fields:
            value = data[key]
            cls = value.__class__
            if cls is str:
                got = memo.get(value)
                if got is not None:
                    text, piece_ok = got
                    if text is None:
                        continue
                elif value and len(value) <= 80 and not value.strip(_HEXDASH):
                    # a trace id or digest: one of a kind, not remembered; no gate
                    # fragment but ``4b1d`` and a dash followed by 16 more
                    text = prefix + value
                    piece_ok = self.key_ok[key] and "4b1d" not in value and (
                        "-" not in value or gate(value) is None)
                else:
                    text, piece_ok = self._piece(key, prefix, value, memo)
                    if text is None:
                        continue
            elif cls is list:
                got = memo.get(tuple(value))
                text, piece_ok = got if got is not None else self._piece(key, prefix, value,
                                                                          memo)
                if text is None:
                    continue
            elif (value is None or value == {}) and key != "reason_codes":
                continue
            else:
                shown = _compact(value)
                text = prefix + shown
                piece_ok = self.key_ok[key] and self._inert(shown)
            if not core and length + len(text) > _MAX_SUMMARY:
                parts.append("…")
                break
            parts.append(text)
            length += len(text) + 1
            ok = ok and piece_ok
        line = " ".join(parts)
        if not ok:
            return self.boundary.line(line)
        return self.bound(self.show_controls(line), self.boundary.line_limit)

    def lines(self, items: list[dict[str, Any]]) -> list[str]:
        """``line`` of each of ``items``: records with the same keys a column at a time
        where every value of a column has the usual form, else one by one."""
        if not items:
            return []
        all_keys = list(map(tuple, items))
        if all_keys.count(all_keys[0]) == len(all_keys):  # the usual batch: one shape
            got = self._columns(all_keys[0], items)
            return got if got is not None else list(map(self.line, items))
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, keys in enumerate(all_keys):
            groups.setdefault(keys, []).append(i)
        out: list[str] = [""] * len(items)
        for keys, index in groups.items():
            rows = [items[i] for i in index]
            done = self._columns(keys, rows) or list(map(self.line, rows))
            for i, line in zip(index, done, strict=True):
                out[i] = line
        return out

    def _columns(self, keys: tuple[str, ...], rows: list[dict[str, Any]]
                 ) -> list[str] | None:
        """The lines of ``rows`` (all with ``keys``), or None where a column is unusual
        (a time that is not a string, a value left out, a line that may be cut...)."""
        plan = self.plans.get(keys)
        times, fields = plan if plan is not None else self._plan(keys)
        columns: list[list[str]] = []
        cores: list[bool] = []  #: fields summarize never cuts before
        bad: set[int] = set()  # rows with a piece that is not inert
        width = 0
        if times:
            col = [row[times[0]] for row in rows]
            if set(map(type, col)) != {str}:
                return None
            if not self.times.fullmatch("\n".join(col)):  # times are inert
                for value in set(col):
                    if not (self.inert.get(value) or self._inert(value)):
                        bad.update(i for i, v in enumerate(col) if v == value)
            columns.append(col)
            cores.append(True)
            width += max(map(len, col)) + 1
        for key, prefix, core, memo in fields:
            cores.append(core)
            col = [row[key] for row in rows]
            cls = col[0].__class__
            if set(map(type, col)) != {cls}:
                return None
            if cls is str and (joined := "".join(col)) and not joined.strip(_HEXDASH) and (
                    min(map(len, col)) > 0 and max(map(len, col)) <= 80):
                texts = [prefix + v for v in col]  # trace ids, digests
                if not self.key_ok[key]:
                    bad.update(range(len(col)))
                if "4b1d" in joined:
                    bad.update(i for i, v in enumerate(col) if "4b1d" in v)
                if "-" in joined and self.token_gate.search("\n".join(col)):
                    gate = self.token_gate.search
                    bad.update(i for i, v in enumerate(col) if gate(v) is not None)
            elif cls is str or cls is list:
                hashable = col if cls is str else list(map(tuple, col))
                uniq = set(hashable)
                if len(uniq) > len(col) // 4 + 8:
                    return None  # many values of other shapes: one by one
                seen = {}
                for value in uniq:
                    got = memo.get(value)
                    if got is None:
                        got = self._piece(key, prefix, value if cls is str else list(value),
                                          memo)
                    if got[0] is None:
                        return None  # an empty value, left out
                    seen[value] = got
                    if not got[1]:
                        bad.update(i for i, v in enumerate(hashable) if v == value)
                texts = [seen[v][0] for v in hashable]
            elif cls is float or cls is int:  # as _compact writes each: one dump for all
                shown = orjson.dumps(col).decode()[1:-1].split(",")
                texts = [prefix + v for v in shown]
                if max(map(len, shown)) > 16 or not self.key_ok[key]:
                    bad.update(i for i, v in enumerate(shown)
                               if not (self.key_ok[key] and self._inert(v)))
            else:
                return None
            width += max(map(len, texts)) + 1
            columns.append(texts)
        lines = list(map(" ".join, zip(*columns, strict=True))) if columns else [
            "" for _ in rows]
        cut: list[int] = []  # lines summarize may cut short: made one by one
        if width > _MAX_SUMMARY + 1 and any(not core for _, _, core, _ in fields):
            cut = [i for i, line in enumerate(lines) if len(line) > _MAX_SUMMARY]
        if not self.fast:
            out = list(map(self.boundary.line, lines))
            for i in cut:
                out[i] = self._cut(i, lines[i], columns, cores, True)
            return out
        limit = self.boundary.line_limit
        if (all(map(str.isascii, lines)) and all(map(str.isprintable, lines))
                and max(map(len, lines)) <= limit):
            clean = lines
        else:
            clean = [self.bound(self.show_controls(line), limit) for line in lines]
        for i in bad:
            clean[i] = self.boundary.line(lines[i])
        for i in cut:
            clean[i] = self._cut(i, lines[i], columns, cores, i in bad)
        return clean

    def _cut(self, row: int, line: str, columns: list[list[str]], cores: list[bool],
             bad: bool) -> str:
        """``line`` as ``summarize`` cuts it (``…`` before the first field past the
        width that it may cut before), through the boundary."""
        parts: list[str] = []
        length = 0
        for col, core in zip(columns, cores, strict=True):
            text = col[row]
            if not core and length + len(text) > _MAX_SUMMARY:
                parts.append("…")
                break
            parts.append(text)
            length += len(text) + 1
        line = " ".join(parts)
        if bad or not self.fast:
            return self.boundary.line(line)
        return self.bound(self.show_controls(line), self.boundary.line_limit)

    def _piece(self, key: str, prefix: str, value: str | list[Any],
               memo: dict[Any, tuple[str | None, bool]]) -> tuple[str | None, bool]:
        """(``key=value`` as ``summarize`` writes it or None where it leaves it out,
        whether it is inert), remembered in ``memo``."""
        if not value and key != "reason_codes":
            got: tuple[str | None, bool] = (None, True)
        else:
            shown = _compact(value)
            got = (prefix + shown, self.key_ok[key] and self._inert(shown))
            if value.__class__ is str and value[:1].isdigit() and self.time.fullmatch(value):
                return got  # a time: one of a kind, not remembered
        if len(memo) >= 4096:
            memo.clear()
        memo[value if value.__class__ is str else tuple(value)] = got
        return got


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


def main(argv: list[str] | None = None, shape: dict[str, Any] | None = None) -> int:
    """Run ``audit ...`` on its own (``python -m cockpit.cli.audit_cmd verify``);
    ``shape``: the options of ``argv`` as argparse gives them (``cli.main._tail_shape``,
    for the simple query shapes), read without argparse."""
    if shape is not None:
        from types import SimpleNamespace

        args: Any = SimpleNamespace(**shape, func=cmd_tail)
    else:
        import argparse

        parser = argparse.ArgumentParser(prog="cockpit")
        add_audit_parser(parser.add_subparsers(dest="command"))
        args = parser.parse_args(["audit", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
