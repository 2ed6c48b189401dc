"""Param values that would be abused: leading dashes, reserved environment names, length.

Each is refused with a ``UsageError`` (CLI and TUI show it) before anything runs or is
recorded; profiles that declare such params are refused with ``FILE:LINE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cockpit.core.actions.params import coerce_param, validate_params
from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail
from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.config.models import Action, Param
from cockpit.core.errors import ConfigError, UsageError
from cockpit.core.runbooks.actions import step_action
from cockpit.core.runbooks.parser import parse_text

PROFILE = """
name: t
actions:
  - id: sort
    run: [sort, "{file}"]
    params: [{name: file}]
  - id: sort-dash
    run: [sort, "{file}"]
    params: [{name: file, allow_leading_dash: true}]
  - id: after-dashdash
    run: [ls, -l, --, "{file}"]
    params: [{name: file}]
  - id: inside
    run: [grep, "--regexp={pattern}", "x{pattern}"]
    params: [{name: pattern}]
  - id: joined
    run: [echo, "{a}{b}"]
    params: [{name: a, default: ""}, {name: b}]
  - id: count
    run: [head, "{n}"]
    params: [{name: n, type: int}]
  - id: in-target
    run: [ps]
    target: "{name}"
    params: [{name: name}]
  - id: script
    script: sort "$FILE"
    params: [{name: file}]
  - id: script-dash
    script: sort "$FILE"
    params: [{name: file, allow_leading_dash: true}]
  - id: script-count
    script: head -n "$N"
    params: [{name: n, type: int}, {name: s, type: choice, choices: [a, -b], required: false}]
  - id: short
    run: [echo, "{word}"]
    params: [{name: word, max_length: 10}]
  - id: secret-int
    run: [echo, "{pin}"]
    params: [{name: pin, type: int, secret: true}, {name: level, type: int, default: 1}]
"""


@pytest.fixture
def runner(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(PROFILE))
    loaded = load_profile(path, environ={})
    trail = tmp_path / "audit.jsonl"
    return ActionRunner(loaded, LocalBackend({}), AuditTrail(trail), operator="t"), trail


def refused(runner: ActionRunner, action: str, params: dict) -> str:
    with pytest.raises(UsageError) as info:
        runner.prepare(action, params)
    return str(info.value)


def test_leading_dash_where_it_would_be_an_option_is_refused(runner, tmp_path):
    runner, trail = runner
    target = tmp_path / "written"
    message = refused(runner, "sort", {"file": f"-o{target}"})
    assert message.startswith("action 'sort': file: '-o/")
    assert message.endswith(
        "' starts with '-' where the command would read it as an option; the profile must "
        "allow it (allow_leading_dash: true) or place the argument after '--'"
    )
    assert not target.exists() and not trail.exists()


@pytest.mark.parametrize(
    ("action", "params", "argv"),
    [
        ("sort-dash", {"file": "-r"}, ["sort", "-r"]),
        ("after-dashdash", {"file": "-rf"}, ["ls", "-l", "--", "-rf"]),
        ("inside", {"pattern": "-v"}, ["grep", "--regexp=-v", "x-v"]),
        ("script-dash", {"file": "-o/x"}, None),  # the profile allows it in a script
        ("script", {"file": "./-o"}, None),  # a path written so that it is not an option
        ("sort", {"file": "a-b"}, ["sort", "a-b"]),
    ],
)
def test_leading_dash_allowed_where_it_cannot_be_an_option(runner, action, params, argv):
    prepared = runner[0].prepare(action, params)
    assert prepared.spec.argv == argv


@pytest.mark.parametrize(
    ("action", "params", "name"),
    [
        ("joined", {"b": "-n"}, "b"),  # {a} is empty: {b} begins the element
        ("count", {"n": "-5"}, "n"),
        ("in-target", {"name": "-it"}, "name"),
        ("script", {"file": "-o/x"}, "file"),  # a script may put $FILE anywhere
        ("script-count", {"n": -5}, "n"),
        ("script-count", {"n": 5, "s": "-b"}, "s"),
    ],
)
def test_leading_dash_from_any_leading_placeholder_is_refused(runner, action, params, name):
    assert f"{name}: '" in refused(runner[0], action, params)


def test_over_long_value_is_refused_before_anything_runs_or_is_recorded(runner):
    runner, trail = runner
    message = refused(runner, "script", {"file": "x" * 10_000_000})
    assert message == (
        "action 'script': file: the value is 10000000 characters long, more than the 4096 "
        "allowed (max_length)"
    )
    assert not trail.exists()
    assert "max_length" in refused(runner, "short", {"word": "elevenchars"})
    assert runner.prepare("short", {"word": "tenchars!!"}).spec.argv == ["echo", "tenchars!!"]
    # a number of 10 MB digits is refused for its length, not parsed
    assert "10000000 characters" in refused(runner, "count", {"n": "9" * 10_000_000})


def test_messages_show_controls_bound_values_and_hide_secrets(runner):
    runner, _ = runner
    message = refused(runner, "secret-int", {"pin": "hunter2", "level": "\x1b[31m" + "9x" * 999})
    assert "hunter2" not in message and "pin: expected a whole number, got ***" in message
    assert "\x1b" not in message and "\\e[31m" in message and len(message) < 300
    message = refused(runner, "sort", {"file": "a", "\x1b]0;x\x07" + "n" * 5000: "v"})
    assert "\x1b" not in message and "\x07" not in message and len(message) < 300


def test_form_validation_refuses_the_same_over_long_value():
    param = Param(name="word", max_length=3)
    with pytest.raises(ValueError, match="more than the 3 allowed"):
        coerce_param(param, "four")


def write(tmp_path: Path, params: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: t\nactions:\n  - id: a\n    run: [echo]\n    params:\n" + textwrap.indent(params, "      ")
    )
    return path


@pytest.mark.parametrize(
    ("params", "line", "where", "name", "env"),
    [
        ("- name: path\n", 6, "actions[0].params[0].name", "path", "PATH"),
        ("- name: x\n- name: y\n  env: LD_PRELOAD\n", 8, "actions[0].params[1].env", "y",
         "LD_PRELOAD"),
        ("- {name: p, env: http_proxy}\n", 6, "actions[0].params[0].env", "p", "http_proxy"),
        ("- name: git_ssh_command\n", 6, "actions[0].params[0].name", "git_ssh_command",
         "GIT_SSH_COMMAND"),
        ("- name: pythonstartup\n", 6, "actions[0].params[0].name", "pythonstartup",
         "PYTHONSTARTUP"),
        ("- name: bash_env\n", 6, "actions[0].params[0].name", "bash_env", "BASH_ENV"),
        ("- name: ifs\n", 6, "actions[0].params[0].name", "ifs", "IFS"),
    ],
)
def test_profile_param_that_would_set_a_reserved_variable_is_refused(
    tmp_path, params, line, where, name, env
):
    path = write(tmp_path, params)
    with pytest.raises(ConfigError) as info:
        load_profile(path, environ={})
    assert info.value.problems == [
        f"{path}:{line}: {where}: param {name!r} would set the environment variable {env}, "
        f"which changes how programs run; give it another name or env: "
        f"(e.g. env: ARG_{env.upper()})"
    ]


def test_param_env_must_be_an_identifier_and_max_length_is_bounded(tmp_path):
    path = write(tmp_path, "- {name: a, env: 'A=B'}\n- {name: b, max_length: 200000}\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path, environ={})
    assert info.value.problems == [
        f"{path}:6: actions[0].params[0].env: 'A=B' must be a letter or _ then letters, "
        "digits, _ (it names an environment variable)",
        f"{path}:7: actions[0].params[1].max_length: Input should be less than or equal to "
        "131072",
    ]


def test_ordinary_param_names_still_load(tmp_path):
    path = write(tmp_path, "- name: user\n- name: host\n- {name: path, env: TARGET_PATH}\n")
    params = load_profile(path, environ={}).profile.actions[0].params
    assert [p.env_name for p in params] == ["USER", "HOST", "TARGET_PATH"]


def test_runbook_variable_with_a_reserved_name_is_refused_when_given(runner):
    runbook = parse_text("# R\n\n```bash\nls \"$LD_PRELOAD\" \"$SAFE_DIR\"\n```\n", "r.md")
    action = step_action(runbook, runbook.steps[0], env={})
    assert {p.env_name for p in action.params} == {"LD_PRELOAD", "SAFE_DIR"}
    with pytest.raises(UsageError) as info:
        runner[0].prepare(action, {"LD_PRELOAD": "/tmp/evil.so", "SAFE_DIR": "/tmp"})
    assert "LD_PRELOAD: would set the environment variable LD_PRELOAD" in str(info.value)
    assert "SAFE_DIR" not in str(info.value)


def test_validate_params_refuses_reserved_env_for_any_action():
    action = Action(
        id="a", script="true", params=[Param(name="p", env="PYTHONPATH", required=False), Param(name="q")]
    )
    with pytest.raises(UsageError, match="environment variable PYTHONPATH"):
        validate_params(action, {"p": "/tmp", "q": "x"})
    assert validate_params(action, {"q": "x"}) == {"q": "x"}


def test_defaults_that_would_be_refused_are_reported_when_the_profile_loads(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(
        """
        name: t
        actions:
          - id: a
            run: [ls, "{flags}", --, "{dir}"]
            params:
              - {name: flags, default: -la}
              - {name: dir, default: -weird}
              - {name: n, type: int, default: -1, allow_leading_dash: true}
        """
    ).lstrip())
    with pytest.raises(ConfigError) as info:
        load_profile(path, environ={})
    assert info.value.problems == [
        f"{path}:6: actions[0].params[0].default: the default of param 'flags' starts with "
        "'-' where the command would read it as an option; set allow_leading_dash: true or "
        "place the argument after '--'",
    ]
    path.write_text("name: t\nactions:\n  - id: b\n    run: [echo, '{w}']\n    params:\n"
                    "      - {name: w, default: abcdef, max_length: 3}\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path, environ={})
    assert info.value.problems == [
        f"{path}:6: actions[0].params[0]: param 'w': the default is longer than max_length (3)"
    ]


# --- scripts and runbook steps: the cockpit cannot know where a script puts a value -----


def test_script_and_runbook_messages_say_why_and_how(runner):
    runner, trail = runner
    assert refused(runner, "script", {"file": "-o/x"}) == (
        "action 'script': file: '-o/x' starts with '-', which the script may hand to a "
        "command that reads it as an option; write a path as ./-name, or the profile must "
        "allow it (allow_leading_dash: true)"
    )
    assert refused(runner, "script-count", {"n": "-5"}) == (
        "action 'script-count': n: '-5' starts with '-', which the script may hand to a "
        "command that reads it as an option (a negative number too); the profile must allow "
        "it (allow_leading_dash: true)"
    )
    assert "(a negative number too); the profile must allow it (allow_leading_dash: true) or "\
        "place the argument after '--'" in refused(runner, "count", {"n": -5})
    runbook = parse_text("# R\n\n```bash\nfind <DIR> -name x\n```\n", "r.md")
    action = step_action(runbook, runbook.steps[0], env={})
    message = refused(runner, action, {"DIR": "-delete"})
    assert message == (
        "action 'rb.r.r.1': DIR: '-delete' starts with '-', which the step may hand to a "
        "command that reads it as an option; write a path as ./-name, or the runbook must "
        "allow it on the step's fence ({allow_leading_dash=DIR})"
    )
    # a copy (a dry run's optional params) is still a runbook step
    copy = action.model_copy(update={"params": [p.model_copy() for p in action.params]})
    assert refused(runner, copy, {"DIR": "-delete"}) == message
    # secret values stay hidden
    secret = Action(id="s", script="x", params=[Param(name="p", secret=True)])
    with pytest.raises(UsageError) as info:
        validate_params(secret, {"p": "-hunter2"})
    assert "hunter2" not in str(info.value) and "p: *** starts with '-'" in str(info.value)
    assert not trail.exists()


def test_a_runbook_fence_allows_a_leading_dash_for_the_params_it_names(runner):
    text = (
        "# R\n\n```bash {allow_leading_dash=<offset>,COUNT}\n"
        "date -d <OFFSET> ; head -n <COUNT> <FILE>\n```\n"
    )
    runbook = parse_text(text, "r.md")
    action = step_action(runbook, runbook.steps[0], env={})
    allowed = {p.name: p.allow_leading_dash for p in action.params}
    assert allowed == {"OFFSET": True, "COUNT": True, "FILE": False}
    values = {"OFFSET": "-1day", "COUNT": "-2", "FILE": "./-x"}
    assert runner[0].prepare(action, values).values == values
    assert "FILE: '-x' starts with '-'" in refused(runner[0], action, {**values, "FILE": "-x"})


def test_the_fence_annotation_is_known_and_checked():
    runbook = parse_text(
        "# R\n\n```bash {allow_leading_dash=DIR}\nls <DIR>\n```\n\n"
        "```bash {allow_leading_dash=dir,NOPE}\nls <DIR>\n```\n",
        "r.md",
    )
    assert [(f.line, f.message) for f in runbook.problems] == [
        (7, "allow_leading_dash: NOPE is not a placeholder of this step (ignored)")
    ]


def test_a_script_default_with_a_leading_dash_is_refused_when_the_profile_loads(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: t\nactions:\n  - id: a\n    script: ls \"$FLAGS\"\n    params:\n"
        "      - {name: flags, default: -la}\n"
        "      - {name: n, type: int, default: -1, allow_leading_dash: true}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_profile(path, environ={})
    assert info.value.problems == [
        f"{path}:6: actions[0].params[0].default: the default of param 'flags' starts with "
        "'-': the script may hand it to a command that reads it as an option; set "
        "allow_leading_dash: true"
    ]


def cockpit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def workdir(tmp_path):
    """A profile whose commands run in ``tmp_path/work``, which holds two .log files."""
    work = tmp_path / "work"
    (work / "logs").mkdir(parents=True)
    for name in ("a.log", "b.log"):
        (work / "logs" / name).write_text("x\n")
    (tmp_path / "p.yaml").write_text(textwrap.dedent(
        f"""
        name: t
        workdir: {work}
        actions:
          - id: find-logs
            script: find "$DIR" -name "*.log"
            params: [{{name: dir}}]
          - id: show-flag
            script: printf '[%s]\\n' "$FLAG"
            params: [{{name: flag, allow_leading_dash: true}}]
        """
    ))
    (tmp_path / "f.md").write_text(
        "# Find logs\n\n```bash\nfind <DIR> -name \"*.log\"\n```\n\n"
        "```bash {allow_leading_dash=FLAG}\nprintf '[%s]\\n' <FLAG>\n```\n"
    )
    return tmp_path


def audited() -> list[dict]:
    """The params of each run on the audit trail (nothing when there is no trail)."""
    path = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [r["params"] for r in records if "params" in r]


def test_runbook_step_with_a_dash_value_does_not_run(workdir):
    logs = sorted((workdir / "work" / "logs").iterdir())
    for extra in (["--yes"], ["--dry-run"]):
        proc = cockpit("runbook", "run", "-P", "p.yaml", "f.md", "find-logs/1",
                       "-p", "DIR=-delete", *extra, cwd=workdir)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == (
            "cockpit: f.md: step find-logs/1: DIR: '-delete' starts with '-', which the step "
            "may hand to a command that reads it as an option; write a path as ./-name, or "
            "the runbook must allow it on the step's fence ({allow_leading_dash=DIR})\n"
        )
        assert proc.stdout == ""
    assert sorted((workdir / "work" / "logs").iterdir()) == logs
    assert audited() == []
    # the same step runs with an ordinary value; the fence allows FLAG a leading dash
    proc = cockpit("runbook", "run", "-P", "p.yaml", "f.md", "find-logs/1", "-p", "DIR=./logs",
                   cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == ["./logs/a.log", "./logs/b.log"]
    proc = cockpit("runbook", "run", "-P", "p.yaml", "f.md", "find-logs/2", "-p", "FLAG=-v",
                   cwd=workdir)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "[-v]\n"), proc.stderr
    assert {json.dumps(p) for p in audited()} == {'{"DIR": "./logs"}', '{"FLAG": "-v"}'}


def test_script_action_with_a_dash_value_does_not_run(workdir):
    logs = sorted((workdir / "work" / "logs").iterdir())
    proc = cockpit("run", "-P", "p.yaml", "find-logs", "-p", "dir=-delete", "--yes", cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        "cockpit: action 'find-logs': dir: '-delete' starts with '-', which the script may "
        "hand to a command that reads it as an option; write a path as ./-name, or the "
        "profile must allow it (allow_leading_dash: true)\n"
    )
    assert sorted((workdir / "work" / "logs").iterdir()) == logs
    assert audited() == []
    proc = cockpit("run", "-P", "p.yaml", "show-flag", "-p", "flag=-v", cwd=workdir)
    assert (proc.returncode, proc.stdout) == (0, "[-v]\n"), proc.stderr
    assert {json.dumps(p) for p in audited()} == {'{"flag": "-v"}'}
