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


def test_a_lazy_module_imports_at_first_use_and_takes_a_patch_through():
    """``LazyModule`` stands for a module until used; setting an attribute through it
    (a test's monkeypatch) reaches the real module, and deleting one too."""
    code = (
        "import sys\n"
        "from cockpit.core.lazy import LazyModule\n"
        "ns = {}\n"
        "ns['colorsys'] = LazyModule('colorsys', ns)\n"
        "proxy = ns['colorsys']\n"
        "assert 'colorsys' not in sys.modules\n"
        "proxy.hls_to_rgb = 'patched'\n"
        "import colorsys\n"
        "assert colorsys.hls_to_rgb == 'patched' and ns['colorsys'] is colorsys\n"
        "assert proxy.hls_to_rgb == 'patched'\n"
        "del proxy.hls_to_rgb\n"
        "assert not hasattr(colorsys, 'hls_to_rgb')\n"
    )
    assert "colorsys" in _loaded_after(code)


def test_a_failing_tcp_probe_does_not_import_the_http_stack():
    """Telling what went wrong with a socket never imports httpx (~20 ms on the UI
    thread): an exception cannot be httpx's if httpx is not imported."""
    code = (
        "import asyncio\n"
        "from cockpit.core.config.models import TcpProbe\n"
        "from cockpit.core.sources.health import describe_error, run_probe\n"
        "assert describe_error(ConnectionRefusedError(111, 'x')) == 'connection refused'\n"
        "assert describe_error(TimeoutError(), 2.0) == 'timed out after 2.0s'\n"
        "probe = TcpProbe.model_validate({'kind': 'tcp', 'name': 'p', 'host': '127.0.0.1',"
        " 'port': 9})\n"
        "(row,) = asyncio.run(run_probe(probe))\n"
        "assert row.state == 'fail', row\n"
    )
    loaded = _loaded_after(code)
    assert "httpx" not in loaded
