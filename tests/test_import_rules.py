"""The architecture's import rules, checked statically (every ``import`` in ``src/``,
also those inside functions and ``TYPE_CHECKING`` blocks).

- ``cockpit.core`` never imports Textual, the TUI or the CLI;
- generic core code (sources, actions, runbooks, audit, config, ...) imports no
  particular backend, only the contract (``backends.base`` and its typed modules),
  the registry and neutral helpers;
- a backend never imports another backend.

An AST walk rather than import-linter: installing import-linter pulls in ``click``,
which makes ``httpx`` import ``click`` and ``pygments`` at start-up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
BACKENDS = "cockpit.core.backends"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _modules() -> list[tuple[str, Path]]:
    return sorted((_module_name(p), p) for p in (SRC / "cockpit").rglob("*.py"))


def _backend_of(module: str) -> str | None:
    """``docker`` for ``cockpit.core.backends.docker.exec``; None for the neutral parts."""
    parts = module.split(".")
    if module.startswith(BACKENDS + ".") and len(parts) > 3:
        candidate = SRC / "cockpit" / "core" / "backends" / parts[3]
        if candidate.is_dir():
            return parts[3]
    return None


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations() -> list[str]:
    """Every import that breaks a rule, as ``FILE:LINE: module imports X (rule)``."""
    problems: list[str] = []
    for module, path in _modules():
        where = path.relative_to(SRC.parent)
        mine = _backend_of(module)
        for line, imported in _imports(path):
            if not _within(module, "cockpit.core"):
                continue
            if any(_within(imported, p) for p in ("textual", "cockpit.tui", "cockpit.cli")):
                problems.append(f"{where}:{line}: core imports {imported}")
                continue
            theirs = _backend_of(imported)
            if theirs is None:
                continue
            if mine is None:
                problems.append(
                    f"{where}:{line}: generic code imports the {theirs} backend ({imported})")
            elif mine != theirs:
                problems.append(
                    f"{where}:{line}: the {mine} backend imports the {theirs} backend")
    first: dict[str, str] = {}  # one report per import statement
    for problem in problems:
        first.setdefault(problem.split(": ", 1)[0], problem)
    return list(first.values())


def test_the_import_rules_hold():
    assert violations() == []


def test_the_rules_see_every_backend_package():
    found = {_backend_of(m) for m, _ in _modules()} - {None}
    assert {"local", "docker"} <= found


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("cockpit.core.sources.x", "from cockpit.core.backends.docker import engine",
         "generic code imports the docker backend"),
        ("cockpit.core.backends.docker.x", "import cockpit.core.backends.local.backend",
         "the docker backend imports the local backend"),
        ("cockpit.core.actions.x", "from textual.app import App", "core imports textual"),
        ("cockpit.core.audit.x", "from cockpit.tui import app", "core imports cockpit.tui"),
        ("cockpit.core.backends.docker.x", "from ..local import LocalBackend",
         "the docker backend imports the local backend"),
    ],
)
def test_a_broken_rule_is_reported(tmp_path, monkeypatch, module, source, expected):
    """The checker would fail: a planted import is found, with its file and line."""
    root = tmp_path / "src"
    for pkg in ("cockpit/core/backends/docker", "cockpit/core/backends/local",
                "cockpit/core/sources", "cockpit/core/actions", "cockpit/core/audit"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
    planted = root / (module.replace(".", "/") + ".py")
    planted.write_text("import os\n\n\ndef late():\n    " + source + "\n")
    monkeypatch.setattr(f"{__name__}.SRC", root)
    found = violations()
    assert len(found) == 1 and expected in found[0], found
    assert found[0].startswith(f"src/{module.replace('.', '/')}.py:5:"), found
