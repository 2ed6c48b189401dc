"""pydantic without its plugin discovery: 10 ms off every start.

The first time pydantic builds a model's validator it asks ``pydantic.plugin._loader``
for plugins. That module imports ``importlib.metadata`` (with ``email``, ``zipfile`` and
``csv``: 9 ms here) and reads the entry points of every installed distribution (3 ms
for 65): about a thirtieth of the TUI's first frame, and part of every CLI command that
reads a profile. pydantic plugins instrument validation (logfire's, for one); the
cockpit validates its own files and uses none.

``skip_discovery()`` registers, before pydantic looks, a loader that reports no plugins.
pydantic takes only ``get_plugins`` from that module (``tests/test_pydantic_plugins.py``
checks the installed pydantic for any other use, and that a plugin comes back when
asked for). Nothing is replaced when plugins are wanted (``COCKPIT_PYDANTIC_PLUGINS=1``),
when pydantic's own ``PYDANTIC_DISABLE_PLUGINS`` is set (its loader reads it), or once
the real loader is imported.
"""

from __future__ import annotations

import os
import sys
import types

#: The module pydantic imports its plugins from.
LOADER = "pydantic.plugin._loader"
#: ``=1``: pydantic looks for its plugins as usual.
ENV = "COCKPIT_PYDANTIC_PLUGINS"


def skip_discovery() -> bool:
    """Make pydantic find no plugins without looking; whether it was done."""
    if os.environ.get(ENV) == "1" or "PYDANTIC_DISABLE_PLUGINS" in os.environ \
            or LOADER in sys.modules:
        return False
    loader = types.ModuleType(LOADER, "pydantic's plugin loader without the discovery: "
                                      "no plugins (cockpit.core.pydantic_plugins)")
    loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[LOADER] = loader
    return True


def _no_plugins() -> tuple[()]:
    """``pydantic.plugin._loader.get_plugins`` when none are looked for."""
    return ()
