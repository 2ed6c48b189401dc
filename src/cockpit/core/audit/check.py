"""``check_trail``: everything ``cockpit audit verify`` can tell about a trail, and what not.

On top of the chain (``verify_trail``) it checks, when it has them:

* the verification key(s): every record's seal, seal indexes without gaps, and that the
  seal state's key derives from the key (the state cannot be rolled back: keys only go
  forward), so records deleted at the end show as a gap to the state's key;
* a witness checkpoint: the trail still holds that record with that hash;
* the seal state next to the trail: the head the writer last wrote is still there;
* break records: tampering the writer found and recorded.

What it could not check (no key, no checkpoint, no state) is listed in ``unchecked``.
State and checkpoints are read *before* the trail, so a writer appending meanwhile does
not look like tampering.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cockpit.core.audit import seal, witness
from cockpit.core.audit.guard import seal_body
from cockpit.core.audit.trail import BREAK_ACTION, verify_trail


@dataclass
class TrailCheck:
    """Outcome of ``check_trail``; ``ok`` is False on any sign of tampering or a torn tail."""

    path: str
    count: int = 0
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    torn_tail: bool = False
    first_bad_line: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not self.torn_tail

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


@dataclass
class _Seals:
    """Walks the seals with the verification keys."""

    seeds: list[bytes]
    seed: bytes | None = None
    index: int = -1
    key: bytes = b""
    sealed: int = 0
    unsealed_before: int = 0
    problems: list[str] = field(default_factory=list)

    def feed(self, lineno: int, rec: dict[str, Any]) -> None:
        parsed = seal.parse_seal(rec.get("seal"))
        if parsed is None:
            if self.seed is None and not self.sealed:
                self.unsealed_before += 1
            else:
                self._problem(f"line {lineno}: record seq {rec.get('seq')} is not sealed")
            return
        idx, digest = parsed
        body = seal_body(rec)
        if self.seed is not None and idx > self.index:
            key = seal.evolve(self.key, idx - self.index)
            if hmac.compare_digest(seal.mac(key, body), digest):
                if idx != self.index + 1:
                    self._problem(
                        f"line {lineno}: seal key {idx} follows key {self.index}: the "
                        f"records sealed with keys {self.index + 1}..{idx - 1} are missing")
                self._accept(idx, key)
                return
        for seed in self.seeds:  # the first seal, or a new key after the state was lost
            key = seal.evolve(seed, idx)
            if hmac.compare_digest(seal.mac(key, body), digest):
                if self.seed is not None:
                    self._problem(f"line {lineno}: sealing starts again with another key")
                self.seed = seed
                self._accept(idx, key)
                return
        self._problem(f"line {lineno}: seal of record seq {rec.get('seq')} does not match "
                      "(forged, or edited and re-chained)")

    def _accept(self, idx: int, key: bytes) -> None:
        self.index, self.key = idx, key
        self.sealed += 1

    def _problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)


def local_keys(path: str | Path) -> tuple[list[str], list[str]]:
    """Verification keys found without asking: ``COCKPIT_AUDIT_KEY``, else the key file
    still next to the trail (with a note that it should not be there), as key arguments
    for ``seal.load_verify_key``, and notes."""
    if os.environ.get("COCKPIT_AUDIT_KEY"):
        return [os.environ["COCKPIT_AUDIT_KEY"]], []
    beside = seal.key_path(Path(path))
    if beside.exists():
        return [str(beside)], [f"the verification key is still next to the trail ({beside}): "
                               "whoever can read it can forge seals; move it off this host"]
    return [], []


def check_trail(path: str | Path, *, keys: list[bytes] | None = None,
                witness_files: list[Path] | None = None,
                use_state: bool = True) -> TrailCheck:
    """Check ``path`` with ``keys`` (verification keys), ``witness_files`` (checkpoint files;
    None: the configured file witnesses) and the seal state next to it."""
    path = Path(path)
    result = TrailCheck(str(path))
    keys = list(keys or [])
    state, state_note = _read_state(path) if use_state else (None, "")
    if state_note:
        result.problems.append(state_note)
    files = witness_files if witness_files is not None else _configured_files(path)
    point, where, history = _checkpoints(files, path)

    if not path.exists():
        _missing(result, keys, state, point, where)
        return result
    report = verify_trail(path)
    result.count = report.count
    result.torn_tail = report.torn_tail
    result.first_bad_line = report.first_bad_line
    if report.problem and not report.torn_tail:
        result.problems.append(report.problem)
    result.checked.append("hash chain (seq, prev, hash of every record)")

    seals = _Seals(keys)
    wanted = {s for s in (point["seq"] if point else None, state.head_seq if state else None)
              if s} | set(history)
    seen: dict[int, str] = {}
    last_seq, last_end, breaks = 0, 0, []
    sealed_seen, last_sealed, unsealed = False, False, []
    with path.open("rb") as fh:
        offset = 0
        for lineno, line in enumerate(fh, 1):
            offset += len(line)
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("seq"), int):
                continue
            last_seq, last_end = rec["seq"], offset
            if rec["seq"] in wanted:
                seen[rec["seq"]] = str(rec.get("hash"))
            if rec.get("action") == BREAK_ACTION:
                breaks.append(f"line {lineno}: the writer recorded tampering: "
                              f"{rec.get('detail')}")
            last_sealed = rec.get("seal") is not None
            if keys:
                seals.feed(lineno, rec)
            elif last_sealed:
                sealed_seen = True
            elif sealed_seen and len(unsealed) < 20:  # seals stop: someone else wrote it
                unsealed.append(f"line {lineno}: record seq {rec['seq']} is not sealed, "
                                "though records before it are: not written by the cockpit")
    result.problems.extend(breaks + unsealed)
    if result.torn_tail and state is not None and last_end != state.size and (
            state.head_seq >= last_seq):
        result.problems.append(f"line {report.first_bad_line}: the torn last line does not "
                               "follow the record the writer last wrote: a cut, not a crash")

    _check_keys(result, keys, seals, state)
    _check_point(result, point, where, seen, last_seq, history)
    _check_state(result, state, seen, last_seq, use_state, last_sealed)
    return result


def _missing(result: TrailCheck, keys: list[bytes], state: seal.SealState | None,
             point: dict[str, Any] | None, where: str) -> None:
    if point is not None:
        result.problems.append(f"the trail is gone, but {where} has a checkpoint at seq "
                               f"{point['seq']}: deleted")
    if state is not None and state.head_seq:
        result.problems.append(f"the trail is gone, but its seal state says seq "
                               f"{state.head_seq} was written: deleted")
    if keys:
        result.problems.append("the trail is gone, but a verification key was given: it "
                               "was sealed once, so it was deleted")
    if not result.problems:
        result.unchecked.append("whether the trail ever existed: no verification key, "
                                "checkpoint or seal state; a deleted trail looks like none")


def _check_keys(result: TrailCheck, keys: list[bytes], seals: _Seals,
                state: seal.SealState | None) -> None:
    if not keys:
        result.unchecked.append(
            "seals: no verification key (--key); a record edited and re-chained, or a file "
            "replaced, by someone who also rewrites the seal state is not detected")
        return
    result.checked.append(f"seals with the verification key ({seals.sealed} sealed records)")
    if seals.unsealed_before:
        result.checked.append(f"{seals.unsealed_before} records from before sealing began "
                              "are covered by the chain up to the first seal")
    result.problems.extend(seals.problems)
    if seals.sealed == 0 and result.count:
        result.problems.append("no record is sealed with the verification key: the trail "
                               "was replaced, or sealing never started with this key")
    if state is None:
        if seals.sealed:
            result.problems.append(
                "the seal state is missing (the writer never deletes it): records deleted "
                "at the end cannot be ruled out")
        return
    seed = seals.seed if seals.seed is not None else (keys[0] if len(keys) == 1 else None)
    if seed is None or seal.evolve(seed, state.index) != state.key:
        result.problems.append(
            f"the seal state's key {state.index} does not derive from the verification "
            "key: the state was replaced")
        return
    if seals.index < state.index - 1:
        result.problems.append(
            f"the seal state has reached key {state.index}, the trail's last seal is key "
            f"{seals.index}: records sealed with keys {seals.index + 1}..{state.index - 1} "
            "were deleted (the end of the trail cut or the file replaced)")
    result.checked.append("the end of the trail against the seal state's key (it cannot be "
                          "rolled back)")


def _check_point(result: TrailCheck, point: dict[str, Any] | None, where: str,
                 seen: dict[int, str], last_seq: int, history: dict[int, str]) -> None:
    if point is None:
        result.unchecked.append(
            "the end of the trail against a witness: no checkpoint found (--witness FILE); "
            "records deleted at the end or a shorter replacement are caught only by the seal "
            "state or key")
        return
    seq = point["seq"]
    if seq not in seen:
        result.problems.append(
            f"{where} has a checkpoint at seq {seq}, the trail ends at seq {last_seq}: "
            "records deleted at the end, or the file replaced")
    elif seen[seq] != point["hash"]:
        result.problems.append(
            f"record seq {seq} differs from the checkpoint in {where}: edited and "
            "re-chained, or the file replaced")
    else:
        result.checked.append(f"the end of the trail against the checkpoint at seq {seq} "
                              f"({where})")
    changed = sorted(s for s, h in history.items() if s in seen and seen[s] != h)
    if changed:
        result.problems.append(
            f"{len(changed)} records differ from their checkpoints (first: seq {changed[0]}): "
            "records deleted and written again, edited and re-chained, or replaced")


def _check_state(result: TrailCheck, state: seal.SealState | None, seen: dict[int, str],
                 last_seq: int, use_state: bool, last_sealed: bool) -> None:
    if state is None:
        if use_state:
            result.unchecked.append("the writer's last head: no seal state next to the trail")
        return
    if not state.head_seq:
        return
    if state.head_seq not in seen:
        result.problems.append(
            f"the seal state says the writer last wrote seq {state.head_seq}, the trail ends "
            f"at seq {last_seq}: records deleted at the end, or the file replaced")
    elif seen[state.head_seq] != state.head_hash:
        result.problems.append(
            f"record seq {state.head_seq} is not the one the writer wrote (seal state): "
            "edited and re-chained, or the file replaced")
    elif last_seq > state.head_seq + 1 or (last_seq == state.head_seq + 1 and not last_sealed):
        # one sealed record past the head is a writer killed before it saved its state
        result.problems.append(
            f"the trail goes on past the writer's last head (seq {state.head_seq}) to seq "
            f"{last_seq}: records added by something other than the cockpit")
    else:
        result.checked.append(f"the writer's last head (seq {state.head_seq}, seal state; "
                              "whoever can write the trail can usually rewrite it too)")


def _read_state(path: Path) -> tuple[seal.SealState | None, str]:
    try:
        return seal.read_state(seal.state_path(path)), ""
    except ValueError as exc:
        return None, f"the seal state is unreadable ({exc}): tampered with"
    except OSError as exc:
        return None, f"cannot read the seal state: {exc.strerror or exc}"


def _configured_files(path: Path) -> list[Path]:
    try:
        found = witness.configured(path)
    except ValueError:
        return []
    return [Path(w.target) for w in found if w.kind == "file"]


def _checkpoints(files: list[Path], path: Path
                 ) -> tuple[dict[str, Any] | None, str, dict[int, str]]:
    """The newest checkpoint, where it is, and every checkpoint (seq -> hash)."""
    best: dict[str, Any] | None = None
    where = ""
    history: dict[int, str] = {}
    for file in files:
        try:
            found = witness.points(file, path)
        except OSError:
            continue
        history.update(found)
        if found:
            seq = max(found)
            if best is None or seq > best["seq"]:
                best, where = {"seq": seq, "hash": found[seq]}, f"witness {file}"
    return best, where, history
