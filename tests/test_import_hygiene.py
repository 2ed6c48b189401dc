"""cockpit.core never imports Textual, and a local profile never loads the heavy SDKs."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import cockpit.core

HEAVY = ("textual", "docker", "kubernetes", "google.auth", "google.cloud")


def _core_modules() -> list[str]:
    return sorted(
        info.name for info in pkgutil.walk_packages(cockpit.core.__path__, prefix="cockpit.core.")
    )


def _loaded_after(code: str) -> list[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_every_core_module_imports_without_textual_or_sdks():
    modules = _core_modules()
    assert len(modules) > 15, modules  # the walk found the real tree
    loaded = _loaded_after("\n".join(f"import {name}" for name in modules))
    assert _heavy(loaded) == []


def test_cli_on_a_local_profile_loads_no_heavy_sdk():
    code = (
        "from cockpit.cli.main import build_parser\n"
        "from cockpit.core.config.discovery import find_profile\n"
        "from cockpit.core.config.loader import load_profile\n"
        "from cockpit.core.environment import open_backend\n"
        "build_parser()\n"
        "open_backend(load_profile(find_profile('demo')))\n"
    )
    assert _heavy(_loaded_after(code)) == []


#: Imported only when first needed (a chart, a record view, a runbook), not at start-up;
#: nor the HTTP stack, psutil and urllib.request (~75 ms): the first probe round runs in
#: a forked child (``core.sources.early_probes``), the first process list comes later.
LAZY_IN_TUI = ("plotext", "textual_plotext", "pygments", "markdown_it",
               "httpx", "httpcore", "anyio", "psutil", "urllib.request")


def test_tui_start_up_imports_no_chart_record_or_runbook_machinery():
    code = (
        "import cockpit.cli.main, cockpit.cli.commands\n"
        "import cockpit.tui.launcher, cockpit.tui.app\n"
    )
    loaded = _loaded_after(code)
    assert "textual" in loaded  # the app really was imported
    lazy = [m for m in loaded if any(m == n or m.startswith(n + ".") for n in LAZY_IN_TUI)]
    assert lazy == []
    assert _heavy([m for m in loaded if not m.startswith("textual")]) == []
