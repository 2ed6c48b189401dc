"""``cockpit audit tail FILE --where trace_id=ID --json`` with the literal scan started
before the imports (``core.audit.literal_scan``) prints exactly what the normal path
prints: the same stdout bytes, stderr and exit status, on a corpus with planted secrets,
JSON escapes, non-ASCII, nested same-name keys, whitespace variants, matches at the
children's range boundary and a last line without a newline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.cli.main import _literal_of, _tail_shape, main
from cockpit.core.audit import literal_scan, query
from cockpit.core.audit.query import parse_filter
from tests.test_secret_formats import TOKENS

ID = "121f57c7-46eb-4d3b-aa7b-f54cbfc78aed"
OTHER = "0c5ca6a3-f2a7-4269-a651-52e6b438a450"
ESCAPED = ID.replace("1", "\\u0031", 1)  # the same string, as JSON may write it


def _records(i: int) -> list[bytes]:
    """A few lines around record ``i``: matches and near-misses of ``ID``."""
    secret = TOKENS[i % len(TOKENS)]
    base = {"ts_utc": f"2025-12-23T10:00:{i % 60:02d}Z", "seq": i}
    out = [
        {**base, "event_type": "decision_audit", "decision": "DENY" if i % 3 else "ALLOW",
         "reason_codes": ["G10_RATE_LIMIT_EXCEEDED"], "trace_id": ID,
         "note": f"token {secret} password=hunter2-{i}"},
        {**base, "event_type": "action_audit", "trace_id": OTHER, "msg": f"see {ID}"},
        {**base, "ctx": {"trace_id": ID}, "trace_id": OTHER, "user": "zoë 日本"},
        {**base, "trace_id": [ID, OTHER], "api_key": "sk_live_x" + str(i)},
        {**base, "trace_id": ID.upper(), "msg": "upper"},
        {**base, "trace_id": OTHER},
    ]
    lines = [json.dumps(r, ensure_ascii=i % 2 == 0).encode() for r in out]
    lines.append(b'{"trace_id" : "%s" , "spaced": true}' % ID.encode())
    lines.append(b'{"trace_id": "%s", "escaped": "\\u0041\\\\"}' % ESCAPED.encode())
    lines.append(b'{"msg": "\\u001b]0;title\\u0007", "trace_id": "%s"}' % ID.encode())
    lines.append(b'{"trace_id": "%s", "trunc' % ID.encode())
    lines.append(b"not json %s \xff\xfe" % ID[:8].upper().encode() + ID[8:].encode())
    lines.append(b"")
    return lines


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines: list[bytes] = []
    for i in range(40):
        lines.extend(_records(i))
    lines.append(b'{"trace_id": "%s", "last": "no newline"}' % ID.encode())
    data = b"\n".join(lines)
    # the children split the file in the middle: a matching line across that point
    mid = len(data) // 2
    start = data.rfind(b"\n", 0, mid) + 1
    line = json.dumps({"trace_id": ID, "mid": "x" * 200}).encode()
    data = data[:start] + line + b"\n" + data[start:]
    path = tmp_path_factory.mktemp("scan") / "audit.log"
    path.write_bytes(data)
    return path


def _run(argv: list[str], capfdbinary: pytest.CaptureFixture[bytes]
         ) -> tuple[int, bytes, bytes]:
    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    out, err = capfdbinary.readouterr()
    return code, out, err


QUERIES = [
    ["--where", f"trace_id={ID}", "--json"],
    ["--where", f"trace_id={ID}", "--json", "-n", "3"],
    ["--where", f"trace_id={ID}", "--json", "-n", "100000"],
    ["--where", f"trace_id={ID}", "--where", "decision=DENY", "--json"],
    ["--where", "decision=DENY", "--where", f"trace_id={ID}", "--json", "-n", "7"],
    ["--where", ID, "--json", "-n", "1000"],
    ["--where", ID.upper(), "--json", "-n", "1000"],
    ["--where", "4269-a651-52e6", "--json", "-n", "1000"],
    ["--where", ":00:07", "--json", "-n", "1000"],  # no letter: searched as bytes
    ["--where", f"  {ID} ", "--json", "-n", "1000"],
    ["-w", f"trace_id={ID}", "--lines", "5", "--json"],
]


#: Runs the CLI in a fresh interpreter (no thread left by another test, the real
#: stdout): ``WORKERS fast|normal ARGS...``; with "fast", the normal path is an error.
DRIVER = """
import sys
from cockpit.core.audit import literal_scan, tail
workers, mode = int(sys.argv[1]), sys.argv[2]
literal_scan._workers = lambda: workers
if mode == "fast":
    def no_normal_path(*args, **kwargs):
        raise SystemExit("the normal path ran")
    tail.write_tail = no_normal_path
from cockpit.cli.main import main
sys.argv[1:] = sys.argv[3:]  # (main() reads them: the whole process is the command's)
sys.exit(main())
"""


def _cli(workers: int, mode: str, argv: list[str]) -> tuple[int, bytes, bytes]:
    env = {**os.environ, "COCKPIT_LITERAL_SCAN_MIN": "0" if mode == "fast" else str(1 << 60)}
    done = subprocess.run([sys.executable, "-c", DRIVER, str(workers), mode, *argv],
                          capture_output=True, env=env, check=False, timeout=60)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: " ".join(q)[:60])
def test_the_scan_prints_what_the_normal_path_prints(corpus: Path, query: list[str],
                                                     workers: int) -> None:
    argv = ["audit", "tail", str(corpus), *query]
    normal = _cli(workers, "normal", argv)
    assert _cli(workers, "fast", argv) == normal  # (range boundaries: 2 and 3 children)
    assert normal[0] == 0 and normal[1].count(b"\n") >= 3


@pytest.mark.parametrize("query", [
    ["--where", f"trace_id={ID}"],                         # text: line numbers, normal
    ["--where", f"trace_id={ID}", "--json", "--total"],
    ["--where", f"trace_id={ID}", "--json", "-n", "0"],
    ["--where", f"trace_id={ID}", "--where", "x~(", "--json"],  # bad expression
    ["--where", f"trace_id={ID}", "--where", "=x", "--json"],
    ["--where", f"trace_id={ID}", "--json", "-n", "-1"],
    ["--where", f"trace_id={ID}", "--json", "--count"],
])
def test_other_shapes_answer_as_before(corpus: Path, query: list[str],
                                       monkeypatch: pytest.MonkeyPatch,
                                       capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    argv = ["audit", "tail", str(corpus), *query]

    def run() -> tuple[int, bytes, bytes]:
        try:
            return _run(argv, capfdbinary)
        except SystemExit as exc:  # argparse's usage errors
            out, err = capfdbinary.readouterr()
            return int(exc.code or 0), out, err

    monkeypatch.setenv("COCKPIT_LITERAL_SCAN_MIN", str(1 << 60))
    normal = run()
    monkeypatch.setenv("COCKPIT_LITERAL_SCAN_MIN", "0")
    assert run() == normal


def test_a_missing_file_or_a_directory_says_so_as_before(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.log", tmp_path):
        runs = [subprocess.run(
            [sys.executable, "-m", "cockpit.cli.main", "audit", "tail", str(path),
             "--where", f"trace_id={ID}", "--json"],
            capture_output=True, env={**os.environ, "COCKPIT_LITERAL_SCAN_MIN": size},
            check=False) for size in ("0", str(1 << 60))]
        assert (runs[0].returncode, runs[0].stdout, runs[0].stderr) == (
            runs[1].returncode, runs[1].stdout, runs[1].stderr)
        assert runs[0].returncode == 2 and runs[0].stderr


@pytest.mark.parametrize("window", [literal_scan.WINDOW, 4096, 8192])
def test_the_children_find_the_prefilters_candidates_in_order(
        corpus: Path, window: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(literal_scan, "WINDOW", window)  # small: keys across the edges
    data = corpus.read_bytes()
    lines = data.split(b"\n")
    for expr in (f"trace_id={ID}", ID, ID.upper(), "4269-a651-52e6", ":00:07"):
        pred = parse_filter(expr)
        assert pred.literal is not None
        assert _literal_of(expr) == (pred.literal, pred.ignore_case, pred.escapes)
        assert pred.escapes == ("=" in expr)  # free text is matched on the raw line
        want = pred.literal.lower() if pred.ignore_case else pred.literal
        expected = [line for line in lines if (pred.escapes and b"\\" in line)
                    or want in (line.lower() if pred.ignore_case else line)]
        scan = literal_scan.start(str(corpus), pred.literal, pred.ignore_case, min_size=0,
                                  escapes=pred.escapes)
        assert scan is not None
        assert scan.lines() == expected
        # the prefilter of the normal path picks the same lines
        assert [data[s:e] for s, e in query._candidate_lines(data, len(data), pred)
                ] == [line for line in expected if line]


def test_free_text_finds_every_line_it_matches_without_the_backslash_lines(
        corpus: Path) -> None:
    """Free text is matched on the raw line, so a line that only holds a backslash is
    not a candidate: the matches are those of every line matched one by one (escaped
    ids, non-ASCII, malformed lines included), for the whole file and for a tail."""
    lines = [line for line in corpus.read_bytes().split(b"\n") if line.strip()]
    assert sum(b"\\" in line for line in lines) > 40  # (there is something to leave out)
    for expr in (ID, ID.upper(), "4269-a651-52e6", ":00:07", "\\u0031", "zoë"):
        filt = query.RecordFilter([expr])
        expected = [line.decode("utf-8", "replace") for line in lines
                    if filt.matches_raw(line)]
        assert expected or expr == "zoë"
        found = [rec.raw for rec in query.scan_file(corpus, [expr]).records]
        assert found == expected, expr
        assert [rec.raw for rec in query.scan_file(corpus, [expr], tail=5).records
                ] == expected[-5:], expr


def test_free_text_folds_ascii_letters_only_wherever_it_is_matched(tmp_path: Path) -> None:
    """ASCII free text matches its letters in either case and nothing else, as its bytes
    prefilter finds it: a Kelvin sign (which Unicode folds to "k") or a ligature ("ﬀ":
    "ff") is not its letter, with or without a JSON escape on the line. The scan, the
    tail, the count, a line matched alone and the literal scan's children agree."""
    path = tmp_path / "audit.log"
    lines = ['{"m": "\\u0041", "n": "\u212aelvin"}', '{"n": "\u212aelvin"}',
             '{"n": "KELVIN kelvin"}', '{"m": "\\u0041", "n": "e\ufb00ort"}',
             '{"n": "EFFORT"}', '{"m": "\\n", "n": "Stra\u00dfe"}', '{"n": "strasse"}',
             '{"m": "\\t", "n": "id-1234-\u212aelvin"}', '{"n": "id-1234-KELVIN"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for expr, want in (("kelvin", [2, 8]), ("effort", [4]), ("strasse", [6]), ("Kel", [2, 8]),
                       ("-1234-kelvin", [8])):
        filt = query.RecordFilter([expr])
        assert [i for i, line in enumerate(lines) if filt.matches_raw(line)] == want, expr
        found = [rec.raw for rec in query.scan_file(path, [expr]).records]
        assert found == [lines[i] for i in want], expr
        assert [rec.raw for rec in query.scan_file(path, [expr], tail=1).records
                ] == found[-1:]
        assert query.scan_file(path, [expr], count_only=True).matched == len(want)
        pred = parse_filter(expr)
        scan = literal_scan.start(str(path), pred.literal, pred.ignore_case, min_size=0,
                                  escapes=pred.escapes)
        if literal_scan.search_key(pred.literal, pred.ignore_case) is not None:
            assert scan is not None and [line.decode() for line in scan.lines()] == found
        else:  # (no letter-free run to search: the normal path answers)
            assert scan is None
    # Unicode text is matched with Unicode case folding (no prefilter: every line)
    filt = query.RecordFilter(["straße"])
    assert [i for i, line in enumerate(lines) if filt.matches_raw(line)] == [5, 6]


def test_a_scan_that_finds_too_much_gives_way(corpus: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    fd = os.open(corpus, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        lit = b'"%s"' % ID.encode()
        assert literal_scan.find_spans(fd, 0, size, lit, False)
        assert literal_scan.find_spans(fd, 0, size, lit, False, max_bytes=100) is None
        monkeypatch.setattr(literal_scan, "MAX_HITS", 3)
        assert literal_scan.find_spans(fd, 0, size, b"-4", False) is None  # many misses
    finally:
        os.close(fd)


def test_only_simple_expressions_give_a_literal() -> None:
    assert _literal_of(f"trace_id={ID}") == (b'"%s"' % ID.encode(), False, True)
    assert _literal_of("4269-0651") == (b"4269-0651", False, False)
    assert _literal_of("4269-a651") == (b"4269-a651", True, False)
    for expr in ("seq=123", "a.b=x/y", "x!=abc", "has:abc", "x~abcdef", "zoë",
                 'x="abc"', "x=true", "x={}"):
        guess = _literal_of(expr)
        pred = parse_filter(expr)
        # a guess is never used unless it is the prefilter's own literal
        assert guess is None or guess == (pred.literal, pred.ignore_case, pred.escapes) or (
            pred.literal is None or guess[0] != pred.literal)


@pytest.mark.parametrize("argv", [
    ["tail", "f.log"],
    ["tail", "f.log", "--where", "trace_id=x", "-w", "y", "--json", "-n", "007", "--lines", "3"],
    ["tail", "f.log", "--json", "--json", "-w", ""],
    ["tail", "~/f.log", "-w", "a b=c d"],
])
def test_the_simple_shapes_read_as_argparse_reads_them(argv: list[str]) -> None:
    import argparse

    from cockpit.cli.audit_cmd import add_audit_parser

    parser = argparse.ArgumentParser(prog="cockpit")
    add_audit_parser(parser.add_subparsers(dest="command"))
    expected = vars(parser.parse_args(["audit", *argv]))
    assert {**_tail_shape(argv), "func": expected["func"]} == expected


@pytest.mark.parametrize("argv", [
    ["tail"], ["tail", ""], ["tail", "-n", "3", "f.log"], ["tail", "f.log", "-w"],
    ["tail", "f.log", "-w", "-x"], ["tail", "f.log", "-n", "-1"], ["tail", "f.log", "-n", "٣"],
    ["tail", "f.log", "--where=x"], ["tail", "f.log", "--wh", "x"], ["tail", "f.log", "g.log"],
    ["tail", "f.log", "--count"], ["tail", "f.log", "-f"], ["tail", "f.log", "--total"],
    ["tail", "f.log", "--", "x"], ["tail", "f.log", "-h"], ["stats", "f.log"],
])
def test_other_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert _tail_shape(argv) is None


def test_redaction_patterns_compile_when_first_used_and_act_the_same() -> None:
    import re
    import subprocess as sp

    code = ("import cockpit.core.redact as r; import re;"
            "print(sum(isinstance(v, r._Lazy) and 'sub' in vars(v) for v in vars(r).values()))")
    done = sp.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"  # importing compiles none of them
    from cockpit.core import redact

    lazy = redact._lazy(r"(?i)pass(word)?=(\S+)")
    real = re.compile(r"(?i)pass(word)?=(\S+)")
    text = "x PASSWORD=abc pass=d"
    assert lazy.sub(r"\2", text) == real.sub(r"\2", text)  # first use: compiled
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in real.finditer(text)]
    assert (lazy.pattern, lazy.flags, lazy.groups) == (real.pattern, real.flags, real.groups)
    assert redact.Redactor().redact("mysql -u root -psecret123") != "mysql -u root -psecret123"


def test_a_literal_the_file_is_full_of_forks_nothing(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Judged on the file's last bytes, a literal too common for the scan to answer
    (too many candidate lines, or a key found in too many other places) is left to the
    normal path at once, without children scanning part of the file for nothing."""
    rows = [json.dumps({"seq": i, "decision": "DENY" if i % 3 == 0 else "ALLOW",
                        "trace_id": ID if i == 7 else OTHER, "note": "x" * 100}).encode()
            for i in range(20_000)]
    path = tmp_path / "audit.log"
    path.write_bytes(b"\n".join(rows) + b"\n")
    escaped = tmp_path / "escaped.log"
    escaped.write_bytes(b"\n".join(r.replace(b'"note"', b'"n\\u006fte"') for r in rows))
    monkeypatch.setattr(literal_scan, "MAX_BYTES", 256 << 10)
    monkeypatch.setattr(literal_scan, "MAX_HITS", 1000)

    def rare(file: Path, literal: bytes, ignore_case: bool = False, escapes: bool = True
             ) -> bool:
        fd = os.open(file, os.O_RDONLY)
        try:
            return literal_scan.looks_rare(fd, os.fstat(fd).st_size, literal, ignore_case,
                                           escapes)
        finally:
            os.close(fd)

    assert rare(path, b'"%s"' % ID.encode())
    assert rare(path, ID.upper().encode(), True)
    assert not rare(path, b'"DENY"')  # a third of the lines: 900 KB of candidates
    assert not rare(path, b"f2a7-4269-a651x", True)  # its key "7-4269-": in most lines
    assert not rare(escaped, b'"%s"' % ID.encode())  # every line holds a backslash
    assert rare(escaped, ID.encode(), True, escapes=False)  # (free text: they do not count)

    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", no_fork)
    assert literal_scan.start(str(path), b'"DENY"', False, min_size=0) is None


@pytest.mark.parametrize("size", [4096, 5000, 9000])  # (a whole page at the end, or not)
def test_the_strstr_finder_finds_what_find_finds(tmp_path: Path, size: int) -> None:
    """``strstr`` stops at a NUL: the finder built on it answers as ``find`` does over any
    range, with NULs in the data, a key touching one, a range ending on the mapping's
    last byte; and leaves the data as it was."""
    import random

    rnd = random.Random(size)
    data = bytearray(rnd.choice(b"ab-7\n" * 8 + b"\x00") for _ in range(size))
    data[-4:] = bytes(rnd.choice(b"ab-7") for _ in range(4))  # keys end on the last byte
    path = tmp_path / "data"
    path.write_bytes(bytes(data))
    fd = os.open(path, os.O_RDONLY)
    try:
        import mmap

        mm = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
        finder = literal_scan._strstr(mm)
        assert finder is not None
        find = finder[0]
        for _ in range(3000):
            needle = bytes(rnd.choice(b"ab-7") for _ in range(rnd.randint(1, 4)))
            pos = rnd.choice((rnd.randint(0, size), rnd.randint(size - 40, size)))
            end = rnd.choice((size, rnd.randint(pos, size)))
            want = mm.find(needle, pos, end)
            assert find(needle, pos, end) == want, (needle, pos, end)
        assert mm[:] == bytes(data)  # every NUL written was put back
        del finder, find
        mm.close()
    finally:
        os.close(fd)


@pytest.mark.parametrize("mode", ["fast", "normal"])
def test_output_that_cannot_be_written_is_said_so(corpus: Path, mode: str) -> None:
    """A full disk under stdout is a failure of the output, not of the file read; the
    exit status says it failed (the fast path ends the process itself)."""
    env = {**os.environ, "COCKPIT_LITERAL_SCAN_MIN": "0" if mode == "fast" else str(1 << 60)}
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-c", DRIVER, "2", mode, "audit", "tail",
                               str(corpus), "--where", f"trace_id={ID}", "--json"],
                              stdout=full, stderr=subprocess.PIPE, env=env, check=False,
                              timeout=60)
    assert done.returncode == 2
    assert b"cannot write the output: No space left on device" in done.stderr
