"""The writer's check before an append: does the trail end where this writer left it?

The seal state remembers the head the writer last wrote. Comparing it with the trail's
last record tells apart:

* ``ok``: the trail ends at that head (a torn line after it is a crash: quarantine it);
* ``adopt``: one more record, chained to that head and sealed with the state's key: a
  writer was killed between writing its record and saving the state;
* ``tampered``: anything else (records deleted at the end, the file replaced, deleted,
  re-chained, cut in the middle of a line, or records added by something else). The
  writer does not repair that silently: it records an ``audit-break`` record and warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cockpit.core.audit.seal import SealState, mac, parse_seal


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str  #: "ok", "adopt" or "tampered"
    detail: str = ""


def seal_body(record: dict[str, Any]) -> bytes:
    """What a record's seal covers: canonical JSON without ``hash`` and ``seal``."""
    import orjson

    body = {k: v for k, v in record.items() if k not in ("hash", "seal")}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def seal_matches(record: dict[str, Any], index: int, key: bytes) -> bool:
    """True if ``record`` is sealed with key ``index`` = ``key``."""
    import hmac

    parsed = parse_seal(record.get("seal"))
    return (parsed is not None and parsed[0] == index
            and hmac.compare_digest(parsed[1], mac(key, seal_body(record))))


def judge(state: SealState, last: dict[str, Any] | None, torn_offset: int | None) -> Verdict:
    """Compare the trail's last good record (and a torn line after it) with ``state``."""
    seq = last["seq"] if last else 0
    digest = last["hash"] if last else ""
    cut = f"; a torn line at byte {torn_offset} (cut mid-line)" if torn_offset is not None else ""
    if seq == state.head_seq and digest == state.head_hash:
        return Verdict("ok")
    if (last is not None and seq == state.head_seq + 1
            and last.get("prev") == (state.head_hash if state.head_seq else "0" * 64)
            and seal_matches(last, state.index, state.key)):
        return Verdict("adopt")
    wrote = f"the cockpit last wrote seq {state.head_seq}"
    if last is None:
        return Verdict("tampered", f"the trail is empty or gone but {wrote}{cut}")
    if seq < state.head_seq:
        return Verdict("tampered", f"the trail ends at seq {seq} but {wrote}: records deleted "
                                   f"at the end, or the file replaced{cut}")
    if seq == state.head_seq:
        return Verdict("tampered", f"record seq {seq} is not the one the cockpit wrote "
                                   f"(hash differs): edited and re-chained, or replaced{cut}")
    return Verdict("tampered", f"the trail ends at seq {seq} but {wrote}: records added by "
                               f"something other than the cockpit{cut}")
