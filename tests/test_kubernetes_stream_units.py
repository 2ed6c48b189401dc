"""Pure parts of the Kubernetes streams: log timestamps and the resume dedupe, merge
order, the exec status channel, the env wrapper, quantities and pod statistics."""

from __future__ import annotations

import subprocess

import pytest

from cockpit.core.backends.kubernetes.exec import exit_from_status, wrap_env
from cockpit.core.backends.kubernetes.logs import Deduper, format_since, order_batch, parse_stamp
from cockpit.core.backends.kubernetes.metrics import parse_quantity, pod_stats
from cockpit.core.backends.kubernetes.raw import selector_string
from cockpit.core.backends.logs import LogNotice, LogRecord

BASE = 1_764_897_600  # 2025-12-05T01:20:00Z


def test_parse_stamp_nanoseconds_and_zones() -> None:
    ns, rest = parse_stamp(b"2025-12-05T01:20:00.123456789Z hello world")
    assert ns == BASE * 10**9 + 123456789
    assert rest == b"hello world"
    ns, rest = parse_stamp(b"2025-12-05T01:20:00.1Z x")  # RFC3339Nano trims zeros
    assert ns == BASE * 10**9 + 100_000_000 and rest == b"x"
    ns, _ = parse_stamp(b"2025-12-05T02:20:00+01:00 x")
    assert ns == BASE * 10**9
    assert parse_stamp(b"no stamp here") == (None, b"no stamp here")
    assert parse_stamp(b"2025-13-45T01:20:00Z bad date")[0] is None


def test_format_since_floors_to_the_second() -> None:
    assert format_since(BASE * 10**9 + 999_999_999) == "2025-12-05T01:20:00Z"


def feed(d: Deduper, lines: list[tuple[int, str]]) -> list[str]:
    return [text for ns, text in lines if d.keep(ns, text)]


def test_dedupe_drops_exactly_what_a_resume_repeats() -> None:
    d = Deduper()
    first = [(10, "a"), (20, "b"), (30, "c"), (30, "c"), (30, "d")]
    assert feed(d, first) == ["a", "b", "c", "c", "d"]
    d.resume()
    # the server repeats from the boundary second: everything at or before 30 again,
    # plus a third "c" logged at 30 that was not seen, then new lines
    again = [(20, "b"), (30, "c"), (30, "c"), (30, "d"), (30, "c"), (40, "e"), (40, "e")]
    assert feed(d, again) == ["c", "e", "e"]
    d.resume()
    assert feed(d, [(40, "e"), (40, "e"), (41, "f")]) == ["f"]


def test_dedupe_without_a_resume_keeps_everything() -> None:
    d = Deduper()
    assert feed(d, [(5, "x"), (5, "x"), (3, "late")]) == ["x", "x", "late"]
    d.resume()
    assert feed(d, [(5, "x"), (5, "x"), (6, "y")]) == ["y"]


def test_order_batch_is_time_ordered_and_stable() -> None:
    items = [LogRecord(2.0, "p1 b", "p1/c"), LogRecord(1.0, "p2 a", "p2/c"),
             LogRecord(2.0, "p1 c", "p1/c"), LogNotice(1.5, "p3/c", "info", "n")]
    assert [i.text for i in order_batch(items)] == ["p2 a", "n", "p1 b", "p1 c"]


def test_exit_code_from_the_status_channel() -> None:
    assert exit_from_status(b'{"metadata":{},"status":"Success"}') == (0, None)
    failure = (b'{"metadata":{},"status":"Failure","message":"command terminated with '
               b'non-zero exit code: error executing command [sh -c exit 3], exit code 3",'
               b'"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode",'
               b'"message":"3"}]}}')
    assert exit_from_status(failure) == (3, None)
    code, error = exit_from_status(b'{"status":"Failure","message":"exec: \\"nope\\": '
                                   b'executable file not found in $PATH"}')
    assert code == 127 and error and "not found" in error
    assert exit_from_status(b"")[0] is None
    assert "without a status" in (exit_from_status(None)[1] or "")


def test_env_wrapper_exports_values_verbatim() -> None:
    assert wrap_env(["echo", "hi"], {}) == ["echo", "hi"]
    argv = wrap_env(["sh", "-c", 'printf "%s|%s" "$A" "$B"'],
                    {"A": "it's $(not run) -- x", "B": "two\nlines"})
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out == "it's $(not run) -- x|two\nlines"


@pytest.mark.parametrize(("text", "value"), [
    ("250m", 0.25), ("120Mi", 120 * 2**20), ("1.5Gi", 1.5 * 2**30), ("2", 2.0),
    ("1e3", 1000.0), ("123456789n", 0.123456789), ("500k", 500_000.0), ("1Ki", 1024.0),
    ("0.5", 0.5), ("100u", 0.0001),
])
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", "m", "12Q", "1.2.3", "abc"])
def test_bad_quantities(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)


def test_pod_stats_percent_of_limits_where_set() -> None:
    pod = {
        "spec": {"containers": [
            {"name": "app", "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}},
            {"name": "sidecar"},
        ]},
        "status": {"containerStatuses": [{"name": "app", "restartCount": 2},
                                         {"name": "sidecar", "restartCount": 1}]},
    }
    usage = {"containers": [{"name": "app", "usage": {"cpu": "250m", "memory": "64Mi"}},
                            {"name": "sidecar", "usage": {"cpu": "100m", "memory": "16Mi"}}]}
    stats = pod_stats(pod, usage)
    assert stats["cpu_millicores"] == pytest.approx(350)
    assert stats["mem_bytes"] == 80 * 2**20
    assert stats["cpu_percent"] == pytest.approx(50.0)
    assert stats["mem_percent"] == pytest.approx(25.0)
    assert stats["restarts"] == 3
    assert pod_stats(pod, None) == {"restarts": 3}


def test_selector_string() -> None:
    assert selector_string({"matchLabels": {"app": "api", "tier": "web"}}) == "app=api,tier=web"
    assert selector_string({"matchExpressions": [
        {"key": "env", "operator": "In", "values": ["a", "b"]},
        {"key": "x", "operator": "Exists"}, {"key": "y", "operator": "DoesNotExist"},
        {"key": "z", "operator": "NotIn", "values": ["c"]}]}) == \
        "env in (a,b),x,!y,z notin (c)"
    assert selector_string(None) == ""
