"""The cockpit's process does not look for pydantic plugins (``core.pydantic_plugins``),
and a real plugin, registered by entry point, is used again when asked for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

from cockpit.core import pydantic_plugins

#: A ``cockpit`` process (``main()`` reads its arguments, as the console script's does)
#: listing the demo profile's actions (the profile loaded, validated); then what its
#: modules say.
DRIVER = """
import json, sys
sys.argv = ["cockpit", "--profile", "demo", "actions", "--json"]
from cockpit.cli.main import main
code = main()
loader = sys.modules.get("pydantic.plugin._loader")
print(json.dumps({"code": code, "metadata": "importlib.metadata" in sys.modules,
                  "stub": bool(loader and "cockpit" in (loader.__doc__ or ""))}))
"""

PLUGIN = """
import os

class Plugin:
    def new_schema_validator(self, schema, schema_type, *args, **kwargs):
        with open(os.environ["PLUGIN_SEEN"], "a") as seen:
            seen.write(getattr(schema_type, "__name__", str(schema_type)) + "\\n")
        return None, None, None

plugin = Plugin()
"""


def _cockpit(tmp_path: Path, **env: str) -> tuple[dict[str, object], list[str]]:
    seen = tmp_path / "seen.txt"
    seen.unlink(missing_ok=True)
    base = {k: v for k, v in os.environ.items()
            if k not in ("PYDANTIC_DISABLE_PLUGINS", pydantic_plugins.ENV)}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER], capture_output=True, text=True, timeout=60,
        env={**base, "XDG_CONFIG_HOME": str(tmp_path / "config"),
             "XDG_STATE_HOME": str(tmp_path / "state"), "PLUGIN_SEEN": str(seen),
             "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "site"),
                                                         base.get("PYTHONPATH")])),
             **env}, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stdout
    return report, seen.read_text().split() if seen.exists() else []


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    """A directory on ``PYTHONPATH`` holding a pydantic plugin and its distribution's
    entry point, as ``pip install`` would leave them."""
    site = tmp_path / "site"
    dist = site / "fake_pydantic_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-pydantic-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pydantic]\nfake = fake_pydantic_plugin:plugin\n")
    (site / "fake_pydantic_plugin.py").write_text(PLUGIN)
    return site


def test_the_cockpit_does_not_look_for_plugins(tmp_path: Path, plugin_site: Path) -> None:
    report, seen = _cockpit(tmp_path)
    assert report == {"code": 0, "metadata": False, "stub": True}
    assert seen == []  # the installed plugin was not called


@pytest.mark.parametrize("env", [{pydantic_plugins.ENV: "1"},
                                 {"PYDANTIC_DISABLE_PLUGINS": "other"}])
def test_plugins_are_found_when_asked_for(tmp_path: Path, plugin_site: Path,
                                          env: dict[str, str]) -> None:
    report, seen = _cockpit(tmp_path, **env)
    assert report == {"code": 0, "metadata": True, "stub": False}
    assert "Profile" in seen  # the plugin saw the profile's validator being made


def test_pydantics_own_switch_still_turns_plugins_off(tmp_path: Path,
                                                      plugin_site: Path) -> None:
    report, seen = _cockpit(tmp_path, PYDANTIC_DISABLE_PLUGINS="__all__")
    assert report["stub"] is False and seen == []


def test_pydantic_takes_only_get_plugins_from_its_loader() -> None:
    """The stand-in provides what pydantic imports from the loader: if a pydantic
    release used more of it, this fails (and the stand-in would need it)."""
    root = Path(pydantic.__file__).parent
    uses = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "_loader.py":
            continue
        text = path.read_text(encoding="utf-8")
        uses += [(path.relative_to(root).as_posix(), m.group(0))
                 for m in re.finditer(r".*\b_loader\b.*", text)]
    assert uses == [("plugin/_schema_validator.py", "    from ._loader import get_plugins")]
