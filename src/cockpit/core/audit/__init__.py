"""Audit: the operator's hash-chained trail and queries over any JSON-lines audit file.

The names below are loaded on first use, so an audit query (``cockpit audit tail``)
never pays for the trail's modules, nor the trail for the query's.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHERE = {
    **dict.fromkeys(("AuditRecord", "CountResult", "RecordFilter", "ScanResult", "count_by",
                     "parse_filter", "parse_record", "scan_file"), "query"),
    **dict.fromkeys(("AuditSinkError", "AuditTrail", "VerifyReport", "default_trail_path",
                     "verify_trail"), "trail"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
