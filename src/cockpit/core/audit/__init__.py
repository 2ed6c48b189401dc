"""Audit: the operator's hash-chained trail and queries over any JSON-lines audit file."""

from cockpit.core.audit.query import (
    AuditRecord,
    CountResult,
    RecordFilter,
    ScanResult,
    count_by,
    parse_filter,
    parse_record,
    scan_file,
)
from cockpit.core.audit.trail import (
    AuditSinkError,
    AuditTrail,
    VerifyReport,
    default_trail_path,
    verify_trail,
)

__all__ = [
    "AuditRecord",
    "AuditSinkError",
    "AuditTrail",
    "CountResult",
    "RecordFilter",
    "ScanResult",
    "VerifyReport",
    "count_by",
    "default_trail_path",
    "parse_filter",
    "parse_record",
    "scan_file",
    "verify_trail",
]
