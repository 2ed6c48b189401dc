"""The headless CLI as a new user meets it, against the real demo service."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cockpit.cli.main import bare_args, build_parser
from tests.support import free_port


def cockpit(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120):
    return subprocess.run([sys.executable, "-m", "cockpit", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def demo_env(tmp_path):
    # The demo's "host cpu" metric is the test machine's own CPU: on a loaded machine it
    # goes critical and `check` exits 1 for a reason these tests are not about.
    env = {**os.environ, "COCKPIT_DEMO_PORT": str(free_port()), "NO_COLOR": "1",
           "COCKPIT_DEMO_CPU_CRIT": "101"}
    yield env
    cockpit("run", "stop", "--yes", env=env)


def test_done_when_sequence(demo_env):
    env = demo_env
    steps: list[tuple[tuple[str, ...], int]] = [
        (("run", "start"), 0),
        (("check",), 0),
        (("run", "smoke-test"), 0),
        (("run", "stress-test", "-p", "requests=200"), 0),
        (("run", "inject-fault", "-p", "kind=errors", "--yes"), 0),
        (("check",), 1),
        (("run", "clear-faults"), 0),
        (("check",), 0),
        (("run", "stop", "--yes"), 0),  # caution: --yes without a terminal
    ]
    for args, expected in steps:
        proc = cockpit(*args, env=env)
        assert proc.returncode == expected, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
    proc = cockpit("audit", "verify", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 6 action runs, each recorded as started + outcome.
    assert "12 records intact" in proc.stdout
    stats = cockpit("audit", "stats", "--by", "action", "--where", "status!=started", "--json",
                    env=env)
    assert stats.returncode == 0, stats.stderr
    counts = json.loads(stats.stdout)["counts"]
    assert counts == {"start": 1, "smoke-test": 1, "stress-test": 1, "inject-fault": 1,
                      "clear-faults": 1, "stop": 1}


def test_dangerous_without_yes_and_without_a_terminal_is_denied(demo_env):
    proc = cockpit("run", "inject-fault", "-p", "kind=latency", env=demo_env, stdin="y\n")
    assert proc.returncode == 3
    assert "NOT_CONFIRMED" in proc.stderr
    proc = cockpit("audit", "tail", "--where", "action=inject-fault", "--json", env=demo_env)
    [record] = [json.loads(line) for line in proc.stdout.splitlines()]
    assert record["decision"] == "DENY" and record["reason_codes"] == ["NOT_CONFIRMED"]


def test_read_only_flag_denies_with_status_3(demo_env):
    proc = cockpit("run", "--read-only", "stop", env=demo_env)
    assert proc.returncode == 3 and "READ_ONLY" in proc.stderr


def test_bad_param_is_a_usage_error(demo_env):
    proc = cockpit("run", "stress-test", "-p", "requests=lots", env=demo_env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "cockpit: action 'stress-test': requests: expected a whole number, got 'lots'"
    )
    proc = cockpit("run", "inject-fault", "-p", "kind=$(touch /tmp/pwned)", "--yes", env=demo_env)
    assert proc.returncode == 2 and "is not one of" in proc.stderr


def test_check_against_a_stopped_service_fails_with_reasons(demo_env):
    proc = cockpit("check", "--json", env=demo_env)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    api = next(row for row in report["health"] if row["name"] == "api")
    assert api["state"] == "fail" and "refused" in api["reason"]


def test_help_lists_everything(demo_env):
    proc = cockpit("--help", env=demo_env)
    for word in ("actions", "run", "check", "validate", "profiles", "audit", "124", "130"):
        assert word in proc.stdout


def test_a_bare_cockpit_gets_what_the_parser_would_give():
    """``cockpit`` alone skips the parser: it gets the same options and command."""
    assert vars(bare_args()) == vars(build_parser().parse_args([]))


def test_paint_asks_the_standard_output_of_the_moment(monkeypatch):
    """Not the one there when the module was imported (a redirect, a test's capture):
    that one may be closed by now."""
    import io

    from cockpit.cli.output import paint

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert paint("ok", "ok") == "\x1b[32mok\x1b[0m"
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert paint("ok", "ok") == "ok"
    assert paint("ok", "ok", Terminal()) == "\x1b[32mok\x1b[0m"
