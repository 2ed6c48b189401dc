"""Profiles: strict validation with FILE:LINE messages, ${VAR} expansion, discovery."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cockpit.core.config.discovery import builtin_dir, find_profile, list_profiles
from cockpit.core.config.expand import ExpansionError, expand, parse_env_file
from cockpit.core.config.loader import load_profile
from cockpit.core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(path: Path, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_profile(path, **kwargs)
    return info.value.problems


def test_minimal_profile_loads_with_defaults(tmp_path):
    path = write(tmp_path, "name: x\n")
    loaded = load_profile(path)
    assert loaded.profile.backend.kind == "local"
    assert loaded.workdir == tmp_path.resolve()


def test_unknown_key_reported_with_its_line(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        actions:
          - id: a
            run: [echo, hi]
            colour: red
    """,
    )
    assert problems(path) == [f"{path}:5: actions[0]: unknown key 'colour'"]


def test_wrong_type_and_bad_duration_each_on_their_line(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        health:
          - name: api
            kind: http
            url: http://127.0.0.1:1/health
            timeout: 5 seconds
        actions:
          - id: a
            run: [echo]
            timeout: 250ms
            expect_exit: zero
    """,
    )
    found = problems(path)
    assert (
        f"{path}:6: health[0].timeout: invalid duration '5 seconds': use e.g. 250ms, 5s, 2m, 1h"
        in found
    )
    assert any(p.startswith(f"{path}:11: actions[0].expect_exit") for p in found)
    assert len(found) == 2


@pytest.mark.parametrize(
    "text,seconds", [("250ms", 0.25), ("5s", 5), ("2m", 120), ("1h", 3600), (3, 3)]
)
def test_durations(tmp_path, text, seconds):
    path = write(tmp_path, f"name: x\nactions:\n  - id: a\n    run: [true]\n    timeout: {text}\n")
    path.write_text(path.read_text().replace("[true]", "['true']"))
    assert load_profile(path).profile.actions[0].timeout == seconds


def test_duplicate_action_ids_reported_at_the_duplicate_naming_the_first(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        actions:
          - {id: a, run: [echo]}
          - {id: b, run: [echo]}
          - {id: a, run: [echo]}
          - {id: b, run: [echo]}
        health:
          - {name: up, kind: tcp, port: 1}
          - {name: up, kind: tcp, port: 2}
    """,
    )
    assert problems(path) == [
        f"{path}:5: actions[2].id: duplicate action id 'a' (first at line 3)",
        f"{path}:6: actions[3].id: duplicate action id 'b' (first at line 4)",
        f"{path}:9: health[1].name: duplicate health probe name 'up' (first at line 8)",
    ]


def test_duplicate_yaml_keys_are_errors(tmp_path):
    path = write(tmp_path, "name: x\nread_only: true\nread_only: false\n")
    assert problems(path) == [f"{path}:3: duplicate key 'read_only' (first at line 2)"]


def test_unknown_backend_kind(tmp_path):
    path = write(tmp_path, "name: x\nbackend:\n  kind: mainframe\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:3: backend.kind: unknown backend kind 'mainframe'")


def test_unknown_probe_kind_points_at_kind(tmp_path):
    path = write(tmp_path, "name: x\nhealth:\n  - name: a\n    kind: smoke-signal\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:4: health[0]: unknown kind 'smoke-signal'")


def test_malformed_yaml(tmp_path):
    path = write(tmp_path, "name: x\nactions: [\n  - id: a\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:") and "invalid YAML" in problem


def test_not_a_mapping_and_empty(tmp_path):
    assert problems(write(tmp_path, "- a\n- b\n"))[0].endswith("not list")
    assert problems(write(tmp_path, "", "e.yaml"))[0].endswith("the file is empty")


def test_env_expansion_from_environment_and_profile_env(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        env:
          PORT: "${BASE_PORT}1"
          URL: http://127.0.0.1:${PORT}
        health:
          - {name: api, kind: http, url: "${URL}/health"}
          - {name: port, kind: tcp, port: "${PORT}"}
        actions:
          - id: a
            run: [echo, "${HOME_DIR:-/nowhere}"]
            script_like_text: no
    """,
    )
    found = problems(path, environ={"BASE_PORT": "800"})
    assert found == [f"{path}:11: actions[0]: unknown key 'script_like_text'"]
    path.write_text(path.read_text().replace("    script_like_text: no\n", ""))
    loaded = load_profile(path, environ={"BASE_PORT": "800"})
    assert loaded.env == {"PORT": "8001", "URL": "http://127.0.0.1:8001"}
    assert loaded.profile.health[0].url == "http://127.0.0.1:8001/health"
    assert loaded.profile.health[1].port == 8001
    assert loaded.profile.actions[0].run == ["echo", "/nowhere"]


def test_undefined_variable_is_an_error_not_empty(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        audit:
          path: ${NOT_SET_ANYWHERE}/audit.log
    """,
    )
    assert problems(path, environ={}) == [
        f"{path}:3: undefined variable ${{NOT_SET_ANYWHERE}} (set it in the environment or env:)"
    ]


def test_scripts_are_left_for_bash(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        actions:
          - id: a
            script: echo "${FINGERPRINT:0:16} $UNDEFINED_HERE"
    """,
    )
    loaded = load_profile(path, environ={})
    assert loaded.profile.actions[0].script == 'echo "${FINGERPRINT:0:16} $UNDEFINED_HERE"'


def test_env_file_and_optional_env_file(tmp_path):
    (tmp_path / ".env").write_text("# comment\nVERITTA_PORT=8000\nexport KEY='a b'\n")
    path = write(
        tmp_path, "name: x\nenv_file: [.env, -.missing]\naudit:\n  path: ${VERITTA_PORT}.log\n"
    )
    loaded = load_profile(path, environ={})
    assert loaded.env == {"VERITTA_PORT": "8000", "KEY": "a b"}
    assert loaded.profile.audit.path == str(tmp_path.resolve() / "8000.log")
    path.write_text("name: x\nenv_file: .missing\n")
    assert "does not exist" in problems(path)[0]


def test_expand_syntax():
    assert expand("${A:-${B}/x} $${C} $D", {"B": "b"}) == "b/x ${C} $D"
    with pytest.raises(ExpansionError):
        expand("${A", {})
    with pytest.raises(ExpansionError):
        expand("${A:0:3}", {"A": "abc"})
    assert parse_env_file('A="x"\nB=y # c\nnot a line\n') == {"A": "x", "B": "y"}


def test_discovery_precedence(tmp_path, monkeypatch):
    project = tmp_path / "proj"
    (project / "profiles").mkdir(parents=True)
    (project / "profiles" / "demo.yaml").write_text("name: demo\n")
    user = tmp_path / "config" / "cockpit" / "profiles"
    user.mkdir(parents=True)
    (user / "mine.yml").write_text("name: mine\n")
    assert find_profile("demo", cwd=project) == project / "profiles" / "demo.yaml"
    assert find_profile("mine", cwd=project) == user / "mine.yml"
    assert find_profile("demo", cwd=tmp_path) == builtin_dir() / "demo.yaml"
    found = {(p.name, p.origin): p.shadowed for p in list_profiles(cwd=project)}
    assert found[("demo", "project")] is False and found[("demo", "built-in")] is True
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        find_profile("nope", cwd=project)


def test_shipped_profiles_validate_and_demo_copy_matches_builtin():
    assert (REPO / "profiles" / "demo.yaml").read_text() == (
        builtin_dir() / "demo.yaml"
    ).read_text()
    demo = load_profile(builtin_dir() / "demo.yaml")
    assert [a.id for a in demo.profile.actions] == [
        "start",
        "stop",
        "restart",
        "status",
        "smoke-test",
        "audit-invariants",
        "stress-test",
        "inject-fault",
        "clear-faults",
        "port-owner",
        "backup-audit",
    ]
    techno = load_profile(REPO / "profiles" / "techno-os.yaml", environ={"PWD": "/srv/techno"})
    assert techno.profile.audit.path == "/srv/techno/audit.log"
    assert {
        "env-check",
        "fingerprint-check",
        "audit-log-writable",
        "smoke-test",
        "audit-invariants",
    } <= {a.id for a in techno.profile.actions}


def test_validate_cli_reports_file_line_and_exit_2_without_traceback(tmp_path):
    bad = write(tmp_path, "name: x\nactions:\n  - id: a\n    run: [echo]\n    danger: extreme\n")
    good = write(tmp_path, "name: y\n", "good.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "cockpit", "validate", str(good), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{good}: ok" in proc.stdout
    assert proc.stderr.startswith(f"{bad}:5: actions[0].danger: Input should be 'safe', 'caution'")
    assert "Traceback" not in proc.stderr


def test_profile_option_errors_are_clean(tmp_path):
    bad = write(tmp_path, "name: x\nwat: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "cockpit", "--profile", str(bad), "actions"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{bad}:2: unknown key 'wat'"
