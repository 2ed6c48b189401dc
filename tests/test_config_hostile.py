"""Hostile profiles: anchor bombs, huge or odd files, deep nesting, odd scalars.

Each is refused with ``FILE:LINE: what is wrong`` (never a traceback, never a hang), and
the legitimate uses of the same features (aliases, merge keys, a BOM) still load.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from cockpit.core.config import document
from cockpit.core.config.loader import load_profile
from cockpit.core.config.models import repeats
from cockpit.core.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_profile(path, environ={})
    return info.value.problems


def bomb(levels: int) -> str:
    lines = ["name: bomb", "x:", "  l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


_CHILD = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from cockpit.core.config.loader import load_profile
    from cockpit.core.errors import ConfigError
    try:
        load_profile(sys.argv[1])
    except ConfigError as exc:
        print(exc)
    """
)


def load_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    """Load in a child capped at 1 GiB, with a generous deadline against a hang."""
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=20
    )


@pytest.mark.parametrize("levels", [6, 9])
def test_anchor_bomb_is_refused_quickly_with_its_line(tmp_path, levels):
    # Before: 7 levels took 8 s and 1 GB, 8 a MemoryError traceback, 9 never ended.
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(levels), encoding="utf-8")
    proc = load_in_child(path)
    assert proc.stderr == ""
    # l1..l3 add 110 + 1,110 + 11,110 nodes; l4's list (line 7) crosses 100,000.
    assert proc.stdout.strip() == (
        f"{path}:7: YAML aliases expand to more than 100000 nodes (anchor bomb?)"
    )


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "name: x\nloop: &a\n  - 1\n  - *a\n")
    assert problems(path) == [
        f"{path}:2: a YAML alias refers to its own anchor (a recursive value)"
    ]


def test_aliases_and_merge_keys_still_work(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        actions:
          - &base {id: a, run: [echo, hi], danger: caution, tags: &tags [ops, db]}
          - <<: *base
            id: b
            tags: *tags
          - <<: [{id: c, run: [date]}, *base]
            danger: dangerous
        """,
    )
    actions = load_profile(path).profile.actions
    assert [(a.id, a.run, a.danger, a.tags) for a in actions] == [
        ("a", ["echo", "hi"], "caution", ["ops", "db"]),
        ("b", ["echo", "hi"], "caution", ["ops", "db"]),
        ("c", ["date"], "dangerous", ["ops", "db"]),
    ]


def test_duplicate_key_inside_a_reused_anchor_is_reported_once(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        env: &e
          A: "1"
          A: "2"
        other: *e
        """,
    )
    assert problems(path) == [f"{path}:4: duplicate key 'A' (first at line 3)"]


def test_deep_nesting_is_refused_not_a_recursion_traceback(tmp_path):
    depth = 200
    text = "name: x\nx:\n" + "".join(f"{'  ' * (i + 1)}k{i}:\n" for i in range(depth)) + (
        "  " * (depth + 1) + "v\n"
    )
    path = write(tmp_path, text)
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:") and problem.endswith(
        f"nested deeper than {document.MAX_DEPTH} levels"
    )


def test_file_larger_than_the_cap_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(document, "MAX_FILE_BYTES", 1024)
    path = write(tmp_path, "name: x\ndescription: " + "y" * 2000 + "\n")
    assert problems(path) == [f"{path}:1: larger than 1024 bytes: not read"]


def test_env_file_from_dev_zero_is_refused_without_reading_it_all(tmp_path):
    path = write(tmp_path, "name: x\nenv_file: /dev/zero\n")
    proc = load_in_child(path)
    assert proc.stderr == ""
    assert proc.stdout.startswith(f"{path}:2: env_file '/dev/zero': larger than 8 MiB")


def test_byte_order_mark_is_dropped_in_profiles_and_env_files(tmp_path):
    (tmp_path / "e.env").write_bytes(b"\xef\xbb\xbfTOKEN=abc\nB=2\n")
    path = tmp_path / "p.yaml"
    path.write_bytes(
        b"\xef\xbb\xbfname: bom\nenv_file: e.env\nactions:\n  - {id: a, run: [echo, '${TOKEN}']}\n"
    )
    loaded = load_profile(path, environ={})
    assert loaded.name == "bom"
    assert loaded.env == {"TOKEN": "abc", "B": "2"}
    assert loaded.profile.actions[0].run == ["echo", "abc"]


def test_byte_order_mark_keeps_line_numbers(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: bom\ncolour: red\n")
    assert problems(path) == [f"{path}:2: unknown key 'colour'"]


def test_utf16_and_invalid_utf8_are_named(tmp_path):
    utf16 = tmp_path / "u16.yaml"
    utf16.write_bytes("name: x\n".encode("utf-16"))
    assert problems(utf16) == [f"{utf16}:1: UTF-16 text: save it as UTF-8"]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: x\ndescription: caf\xe9\n")
    assert problems(latin) == [f"{latin}:2: not UTF-8 text (byte 0xe9 cannot be decoded)"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1" * 5000, "cannot read this int value: Exceeds the limit"),
        ("2024-13-45", "cannot read this timestamp value: month must be in 1..12"),
        ('!!float "abc"', "cannot read this float value"),
        ("!!set {a, b}", "unsupported YAML tag 'tag:yaml.org,2002:set'"),
        ("!!python/object:os.system {}", "unsupported YAML tag"),
        ("!!python/name:os.system ''", "invalid YAML"),
    ],
)
def test_odd_scalars_and_tags_are_errors_not_tracebacks(tmp_path, value, message):
    path = write(tmp_path, f"name: x\nd: {value}\n")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:2: {message}")


def test_complex_key_is_an_error(tmp_path):
    path = write(tmp_path, "name: x\n? [a, b]\n: 1\n")
    assert problems(path) == [
        f"{path}:2: a mapping key must be a plain value, not a list or mapping"
    ]


def test_messages_quoting_the_profile_are_bounded_and_show_controls(tmp_path):
    path = write(tmp_path, 'name: x\nactions:\n  - id: "\\e[31m' + "A" * 5000 + '"\n    run: [echo]\n')
    (problem,) = problems(path)
    assert "\x1b" not in problem and "[31m" in problem
    assert len(problem) < 1000 and "chars]" in problem


@pytest.mark.parametrize(
    "value",
    ["", "a", "1", "-1.5", "0x1f", "0o17", "1_000", ".inf", "~", "null", "yes", "No", "on",
     "2024-01-01", "12:30:00", "<<", "=", "!x", "&a", "*b", "+3", "Off", "TRUE"],
)
def test_quick_resolver_gives_the_tags_of_the_safe_loader(value):
    quick = document._Loader("")
    stock = document._SafeLoader("")
    try:
        for implicit in [(True, False), (False, True), (False, False)]:
            assert quick.resolve(yaml.ScalarNode, value, implicit) == stock.resolve(
                yaml.ScalarNode, value, implicit
            )
        for kind in (yaml.SequenceNode, yaml.MappingNode):
            assert quick.resolve(kind, None, (True, False)) == stock.resolve(
                kind, None, (True, False)
            )
    finally:
        quick.dispose()
        stock.dispose()


def test_repeats_names_each_repetition_and_its_first():
    assert repeats(["a", "b", "a", "c", "b", "a"]) == [(2, 0), (4, 1), (5, 0)]
    assert repeats([]) == []


def test_variables_are_expanded_through_aliases_merges_and_deep_values(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        env: {HOST: db1}
        actions:
          - &base {id: a, run: [ping, "${HOST}"], env: {TARGET: "${HOST}:5432"}}
          - <<: *base
            id: b
          - id: c
            run: [echo, plain, "{p}"]
            params: [{name: p, default: "at-${HOST}"}]
        """,
    )
    actions = load_profile(path, environ={}).profile.actions
    assert [(a.run, a.env) for a in actions] == [
        (["ping", "db1"], {"TARGET": "db1:5432"}),
        (["ping", "db1"], {"TARGET": "db1:5432"}),
        (["echo", "plain", "{p}"], {}),
    ]
    assert actions[2].params[0].default == "at-db1"


def test_variable_expansion_bomb_is_refused_in_a_child_with_bounded_memory(tmp_path):
    # a 1 MB variable referenced 400,000 times in one value: 400 GB once joined
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: x\nenv:\n  BIG: " + "x" * 1_000_000 + "\ndescription: \"" + "${BIG}" * 400_000 + "\"\n"
    )
    proc = load_in_child(path)
    assert proc.stderr == ""
    assert proc.stdout.strip() == (
        f"{path}:4: ${{VAR}} expansion makes the profile more than 16777216 characters longer"
    )


def test_env_values_doubling_each_other_are_refused(tmp_path):
    env = "".join(f"  V{i + 1}: \"${{V{i}}}${{V{i}}}\"\n" for i in range(60))
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nenv:\n  V0: abcdefgh\n" + env)
    proc = load_in_child(path)
    assert proc.stderr == ""
    # V21 is the first to cross 16 MiB of added characters (8 * 2**21 = 16 MiB)
    assert proc.stdout.startswith(
        f"{path}:24: ${{VAR}} expansion makes the profile more than 16777216 characters longer"
    )


def test_deeply_nested_defaults_are_an_error_not_a_recursion_traceback(tmp_path):
    path = write(tmp_path, 'name: x\ndescription: "' + "${A:-" * 5000 + "x" + "}" * 5000 + '"\n')
    assert problems(path) == [f"{path}:2: defaults nested deeper than 16 levels"]


def test_env_files_share_one_read_budget(tmp_path):
    path = write(tmp_path, "name: x\nenv_file: [" + ", ".join(["/dev/zero"] * 100_000) + "]\n")
    proc = load_in_child(path)  # before: 100,000 reads of 8 MiB each (800 GB)
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 101 and all("env_file '/dev/zero'" in line for line in lines[:100])
    assert lines[-1] == f"{path}:2: and 99900 more problems"


def test_many_duplicate_keys_stop_after_the_first_hundred(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: x\n" + "a: 1\n" * 300_000)
    proc = load_in_child(path)  # before: each duplicate searched for its first occurrence
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{path}:3: duplicate key 'a' (first at line 2)"
    assert lines[-1] == f"{path}:102: more than 100 problems: fix these first"
    assert len(lines) == 101


def test_many_undefined_variables_in_a_large_env_are_reported_in_linear_time(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nenv:\n" + "".join(f"  K{i}: ${{NOPE}}\n" for i in range(200_000)))
    proc = load_in_child(path)  # before: each problem's line searched the whole env
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{path}:3: undefined variable ${{NOPE}} (set it in the environment or env:)"
    assert lines[-1] == f"{path}:103: and 199900 more problems"
