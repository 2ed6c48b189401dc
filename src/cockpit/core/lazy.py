"""A module imported when first used: what an incident query's start may never need."""

from __future__ import annotations

TYPE_CHECKING = False  # (typing is milliseconds of an incident query's start)
if TYPE_CHECKING:
    from typing import Any


class LazyModule:
    """Stands for the top-level module ``name`` under ``namespace[name]`` (a module's
    globals) until an attribute is first asked for: then imports it and puts the module
    itself there, so later uses cost nothing."""

    def __init__(self, name: str, namespace: dict[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_namespace", namespace)

    def _module(self) -> Any:
        module = __import__(self._name)
        self._namespace[self._name] = module
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._module(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        # (a test's monkeypatch of ``httpx.X`` through this stand-in reaches the module)
        setattr(self._module(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._module(), attr)
