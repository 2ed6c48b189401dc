"""Traffic splits with gcloud's own semantics (``gcloud run services update-traffic``).

A mirror of ``googlecloudsdk/api_lib/run/traffic.py`` (``TrafficTargets.UpdateTraffic``)
and ``command_lib/run/config_changes.py`` (``TrafficChanges``) on v2 JSON:

- targets are keyed by revision name, or ``LATEST`` (the latest ready revision);
- tags move to 0% targets of their own; targets with a share naming the same key merge;
- the new percentages the user names are set; when they sum to under 100, the targets
  that serve now and are not named share the rest in proportion to their current
  shares (rounded down, the lost points given back by gcloud's precedence: biggest loss
  first, then the smaller share, then the key);
- a key named with 0 is dropped (its tags stay); over 100, a value outside 0..100, or
  every serving target named without reaching 100 is refused, as gcloud refuses it;
- ``--to-tags`` names tags, each the revision it tags; ``--to-latest`` is ``LATEST=100``.

Pure functions on lists of dicts: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LATEST = "LATEST"
REVISION_TYPE = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
LATEST_TYPE = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


class TrafficError(ValueError):
    """A split gcloud would refuse too (the message is gcloud's, where it has one)."""


def short(name: str | None) -> str:
    """``tai-autonomics-00001-grn`` of a full revision resource name."""
    return (name or "").rsplit("/", 1)[-1]


def key_of(target: Mapping[str, Any]) -> str:
    """``LATEST`` for a target of the latest revision, else its revision's name."""
    if target.get("type") == LATEST_TYPE or not target.get("revision"):
        return LATEST
    return short(target.get("revision"))


def _sort_key(key: str) -> tuple[int, str]:
    return (2, key) if key == LATEST else (1, key)


def _target(key: str, percent: int = 0, tag: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = ({"type": LATEST_TYPE} if key == LATEST
                           else {"type": REVISION_TYPE, "revision": key})
    if percent:
        out["percent"] = percent
    if tag:
        out["tag"] = tag
    return out


# -- what the user types --------------------------------------------------------------


def parse_split(text: str, what: str = "REVISION") -> dict[str, int]:
    """``A=10,B=90`` as ``{"A": 10, "B": 90}`` (gcloud's ``--to-revisions`` /
    ``--to-tags`` value); a name given twice is refused (gcloud keeps the last)."""
    out: dict[str, int] = {}
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or not all(items):
        raise TrafficError(f"expected {what}=PERCENT[,{what}=PERCENT...], not {text!r}")
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise TrafficError(f"expected {what}=PERCENT, not {item!r}")
        try:
            percent = int(value)
        except ValueError:
            raise TrafficError(f"Traffic percentage value {value} is not an integer."
                               ) from None
        if percent < 0 or percent > 100:
            raise TrafficError(f"Traffic percentage value {value} is not between 0 and 100.")
        if key in out:
            raise TrafficError(f"{key} is given twice in {text!r}")
        out[key] = percent
    return out


def by_tags(traffic: Iterable[Mapping[str, Any]], tag_percentages: Mapping[str, int],
            service: str) -> dict[str, int]:
    """``--to-tags``: each tag as the key (revision or LATEST) it tags now."""
    tag_to_key = {t["tag"]: key_of(t) for t in traffic if t.get("tag")}
    out: dict[str, int] = {}
    for tag, percent in tag_percentages.items():
        if tag not in tag_to_key:
            raise TrafficError(f"There is no revision tagged with [{tag}] in the traffic "
                               f"allocation for [{service}].")
        out[tag_to_key[tag]] = percent  # two tags of one revision: the last wins, as in gcloud
    return out


# -- gcloud's UpdateTraffic ---------------------------------------------------------------


def _normalized(traffic: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int],
                                                                 list[tuple[str, str]]]:
    percents: dict[str, int] = {}
    tags: list[tuple[str, str]] = []
    for target in traffic:
        key = key_of(target)
        if target.get("tag"):
            tags.append((key, str(target["tag"])))
        percent = int(target.get("percent") or 0)
        if percent:
            percents[key] = percents.get(key, 0) + percent
    return percents, tags


def _int_percentages(floats: Mapping[str, float]) -> dict[str, int]:
    rounded = {k: int(v) for k, v in floats.items()}
    loss = round(sum(floats.values())) - sum(rounded.values())
    precedence = sorted(floats.items(),
                        key=lambda kv: (1 - (kv[1] - int(kv[1])), kv[1], _sort_key(kv[0])))
    for key, _ in precedence[:loss]:
        rounded[key] += 1
    return rounded


def update_traffic(traffic: Iterable[Mapping[str, Any]],
                   new_percentages: Mapping[str, int]) -> list[dict[str, Any]]:
    """The service's new ``traffic`` (v2 JSON) after ``new_percentages``."""
    existing, tag_targets = _normalized(traffic)
    current = sum(existing.values())
    if current != 100:
        raise TrafficError(f"Current traffic allocation of {current} is not 100 percent")
    specified = sum(new_percentages.values())
    unassigned = {k: p for k, p in existing.items() if k not in new_percentages}
    if specified > 100:
        raise TrafficError("Over 100% of traffic is specified.")
    for key, percent in new_percentages.items():
        if percent < 0 or percent > 100:
            raise TrafficError(f"New traffic for target {key} is {percent}, not between 0 "
                               "and 100")
    if not unassigned and specified < 100:
        raise TrafficError("Every target with traffic is updated but 100% of traffic has "
                           "not been specified.")
    floats: dict[str, float] = {k: float(v) for k, v in new_percentages.items()}
    rest = 100 - specified
    if rest:
        base = sum(unassigned.values())
        for key, percent in unassigned.items():
            floats[key] = percent * float(rest) / base
    ints = _int_percentages(floats)
    kept = [key for key in ints
            if not (key in new_percentages and new_percentages[key] == 0)]
    out = [_target(key, ints[key]) for key in sorted(kept, key=_sort_key)]
    out += [_target(key, 0, tag) for key, tag in tag_targets]
    return out


# -- shares as an operator reads them ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Share:
    """What one revision gets: percent, its tags, whether through ``LATEST``."""

    percent: int = 0
    tags: tuple[str, ...] = ()
    latest: bool = False


def shares(traffic: Iterable[Mapping[str, Any]], latest_ready: str | None
           ) -> dict[str, Share]:
    """Per revision name (``LATEST`` resolved to ``latest_ready``) its share and tags."""
    out: dict[str, Share] = {}
    for target in traffic:
        key = key_of(target)
        latest = key == LATEST
        resolved = short(target.get("revision")) or short(latest_ready) or LATEST
        name = resolved if latest else key
        old = out.get(name, Share())
        tag = target.get("tag")
        out[name] = Share(old.percent + int(target.get("percent") or 0),
                          old.tags + ((str(tag),) if tag else ()), old.latest or latest)
    return out


def state_word(share: Share | None) -> str:
    """A revision's state: ``100%``, ``10% blue``, ``0% blue``, ``0%``."""
    share = share or Share()
    return f"{share.percent}%" + (f" {','.join(share.tags)}" if share.tags else "")


def table(before: Mapping[str, Share], after: Mapping[str, Share],
          order: Iterable[str] = (), now_label: str = "NOW",
          after_label: str = "AFTER") -> list[str]:
    """``REVISION  NOW  AFTER  TAG`` lines for each revision with a share or a tag,
    ``order`` first (newest first), the others by name (newest first)."""
    names = [n for n in dict.fromkeys([*order, *sorted({*before, *after}, reverse=True)])
             if n in before or n in after]
    rows = [("REVISION", now_label, after_label, "TAG")]
    for name in names:
        b, a = before.get(name, Share()), after.get(name, Share())
        if not (b.percent or a.percent or b.tags or a.tags):
            continue
        shown = name + (" (LATEST)" if a.latest or (b.latest and not after) else "")
        tags = ",".join(dict.fromkeys([*a.tags] if after else [*b.tags]))
        rows.append((shown, f"{b.percent}%", f"{a.percent}%", tags))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip()
            for r in rows]
