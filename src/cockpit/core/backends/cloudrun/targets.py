"""Cloud Run v2 Services and Revisions (the API's JSON) as targets, health computed.

Ids: a service ``REGION/SERVICE``, a revision ``REGION/SERVICE/REVISION`` (its parent is
its service's id); ``scope`` is the region; aliases are what a user types (``SERVICE``,
``services/SERVICE``; ``REVISION``, ``revisions/REVISION``).

Health: a service is ok when its terminal condition Ready succeeded and its latest
created revision is its latest ready one; reconciling is unknown; a latest revision that
failed fails with its reason. A revision is ok when its Ready condition succeeded, fails
with the condition's reason and message when it failed. A revision's ``state`` is its
traffic share and tags (``100%``, ``10% blue``, ``0% blue``, ``0%``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from cockpit.core.backends.cloudrun.traffic import Share, shares, short, state_word
from cockpit.core.backends.targets import Health, Target

SUCCEEDED = "CONDITION_SUCCEEDED"
FAILED = "CONDITION_FAILED"
TRANSIENT = ("CONDITION_RECONCILING", "CONDITION_PENDING")


def epoch(text: Any) -> float | None:
    """Epoch seconds of an RFC3339 time (nanoseconds allowed); None if absent or bad."""
    if not isinstance(text, str) or not text:
        return None
    head, frac = text, 0.0
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(c for c in rest[:9] if c.isdigit())
        tail = rest.lstrip("0123456789")
        frac = float("0." + digits) if digits else 0.0
        head += tail
    try:
        when = dt.datetime.fromisoformat(head.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp() + frac


def camel(reason: str) -> str:
    """``ContainerMissing`` for ``CONTAINER_MISSING`` (gcloud's words); others as given."""
    if reason and all(c.isupper() or c.isdigit() or c == "_" for c in reason):
        return "".join(part.capitalize() for part in reason.lower().split("_"))
    return reason


def condition_text(cond: Mapping[str, Any]) -> str:
    """``Reason: message`` of a condition (whichever it has)."""
    reason = str(cond.get("reason") or cond.get("revisionReason")
                 or cond.get("executionReason") or "")
    message = " ".join(str(cond.get("message") or "").split())
    reason = camel(reason)
    if reason and message:
        return f"{reason}: {message}"
    return reason or message


def ready_condition(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``Ready`` condition (a service's terminal condition), {} if none."""
    terminal = obj.get("terminalCondition")
    if isinstance(terminal, Mapping) and terminal.get("type", "Ready") == "Ready":
        return terminal
    for cond in obj.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return cond
    return {}


def revision_health(rev: Mapping[str, Any]) -> Health:
    """ok when Ready succeeded; fail with the reason when it failed; else unknown."""
    cond = ready_condition(rev)
    state = cond.get("state")
    if state == SUCCEEDED:
        return Health("ok")
    if state == FAILED:
        return Health("fail", condition_text(cond) or "not ready")
    if rev.get("reconciling") or state in TRANSIENT:
        return Health("unknown", "reconciling: " + (condition_text(cond) or "not ready yet"))
    return Health("unknown", condition_text(cond) or "no Ready condition yet")


def service_health(svc: Mapping[str, Any], revisions: Mapping[str, Mapping[str, Any]]
                   ) -> tuple[str, Health]:
    """(state word, health) of a service; ``revisions`` by short name, where listed."""
    cond = ready_condition(svc)
    state = cond.get("state")
    created = short(svc.get("latestCreatedRevision"))
    ready = short(svc.get("latestReadyRevision"))
    if created and created != ready:
        rev = revisions.get(created)
        rev_cond = ready_condition(rev) if rev is not None else {}
        if rev_cond.get("state") == FAILED or (rev is None and state == FAILED):
            why = condition_text(rev_cond) or _failed_why(svc)
            return "failed", Health("fail", f"latest revision {created} not ready"
                                    + (f": {why}" if why else ""))
    if svc.get("reconciling") or state in TRANSIENT:
        return "reconciling", Health("unknown", "reconciling: "
                                     + (condition_text(cond) or "routing traffic"))
    if state == FAILED:
        return "failed", Health("fail", condition_text(cond) or "not ready")
    if state == SUCCEEDED:
        if created and created != ready:
            return "reconciling", Health("unknown", f"reconciling: latest revision "
                                                    f"{created} not ready yet")
        return "ready", Health("ok")
    return "unknown", Health("unknown", condition_text(cond) or "no Ready condition yet")


def _failed_why(svc: Mapping[str, Any]) -> str:
    for cond in svc.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("state") == FAILED:
            return condition_text(cond)
    return condition_text(ready_condition(svc))


def _image(containers: Any) -> str:
    if isinstance(containers, list) and containers and isinstance(containers[0], Mapping):
        return str(containers[0].get("image") or "")
    return ""


def _conditions(obj: Mapping[str, Any]) -> list[dict[str, str]]:
    found = [obj.get("terminalCondition"), *(obj.get("conditions") or [])]
    return [{k: str(c.get(k) or "") for k in ("type", "state", "reason", "message")}
            for c in found if isinstance(c, Mapping)]


def traffic_of(svc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """What serves now: ``trafficStatuses`` when the service has them, else ``traffic``."""
    statuses = svc.get("trafficStatuses")
    if isinstance(statuses, list) and statuses:
        return [t for t in statuses if isinstance(t, Mapping)]
    return [t for t in svc.get("traffic") or [] if isinstance(t, Mapping)]


def service_target(svc: Mapping[str, Any], region: str,
                   revisions: Mapping[str, Mapping[str, Any]]) -> Target:
    name = short(svc.get("name"))
    state, health = service_health(svc, revisions)
    latest_ready = short(svc.get("latestReadyRevision"))
    traffic = [{"revision": short(t.get("revision")) or (
                    latest_ready if t.get("type", "").endswith("LATEST") else ""),
                "percent": int(t.get("percent") or 0), "tag": str(t.get("tag") or ""),
                "latest": str(t.get("type", "")).endswith("LATEST")}
               for t in traffic_of(svc)]
    details = {
        "project": _project(svc.get("name")), "region": region, "service": name,
        "uri": svc.get("uri") or "", "creator": svc.get("creator") or "",
        "lastModifier": svc.get("lastModifier") or "",
        "updateTime": svc.get("updateTime") or "",
        "latestReadyRevision": latest_ready,
        "latestCreatedRevision": short(svc.get("latestCreatedRevision")),
        "traffic": traffic, "conditions": _conditions(svc),
    }
    # the image that serves: the revision with the most traffic (the template's is the
    # latest created one's, which may serve nothing yet)
    shares: dict[str, int] = {}
    for t in traffic:
        if t["revision"]:
            shares[t["revision"]] = shares.get(t["revision"], 0) + t["percent"]
    serving = max(shares, key=shares.__getitem__) if any(shares.values()) else ""
    image = _image((revisions.get(serving) or {}).get("containers")) if serving else ""
    return Target(id=f"{region}/{name}", name=name, kind="service", state=state,
                  details=details, scope=region, started_at=epoch(svc.get("createTime")),
                  health=health,
                  image=image or _image((svc.get("template") or {}).get("containers")),
                  aliases=(f"services/{name}",))


def revision_target(rev: Mapping[str, Any], region: str, service: str,
                    share: Share | None) -> Target:
    name = short(rev.get("name"))
    share = share or Share()
    details = {
        "project": _project(rev.get("name")), "region": region, "service": service,
        "revision": name, "percent": share.percent, "tags": list(share.tags),
        "creator": rev.get("creator") or "", "logUri": rev.get("logUri") or "",
        "conditions": _conditions(rev),
    }
    return Target(id=f"{region}/{service}/{name}", name=name, kind="revision",
                  state=state_word(share), details=details, scope=region,
                  parent=f"{region}/{service}", started_at=epoch(rev.get("createTime")),
                  health=revision_health(rev), image=_image(rev.get("containers")),
                  aliases=(f"revisions/{name}",))


def newest_first(revisions: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Revisions by creation time, newest first (name as the tie-break)."""
    return sorted(revisions, key=lambda r: (epoch(r.get("createTime")) or 0.0,
                                            short(r.get("name"))), reverse=True)


def service_targets(svc: Mapping[str, Any], region: str,
                    revisions: Iterable[Mapping[str, Any]]) -> list[Target]:
    """The service's target, then its revisions' (newest first)."""
    by_name = {short(r.get("name")): r for r in revisions}
    service = service_target(svc, region, by_name)
    split = shares(traffic_of(svc), svc.get("latestReadyRevision"))
    out = [service]
    out += [revision_target(r, region, service.name, split.get(short(r.get("name"))))
            for r in newest_first(by_name.values())]
    return out


def missing_service(region: str, name: str) -> Target:
    """A service the profile names that a region does not have."""
    return Target(id=f"{region}/{name}", name=name, kind="service", state="missing",
                  scope=region, health=Health("fail", f"no service {name} in {region}"),
                  aliases=(f"services/{name}",))


def region_error(region: str, reason: str, services: Iterable[str] = ()) -> list[Target]:
    """The rows of a region whose listing failed: the region's, then one per service the
    profile names (so a probe or a metric of the service there fails, not passes)."""
    rows = [Target(id=f"regions/{region}", name=region, kind="region", state="error",
                   scope=region, health=Health("fail", reason))]
    rows += [Target(id=f"{region}/{name}", name=name, kind="service", state="unknown",
                    scope=region, health=Health("fail", f"cannot list {region}: {reason}"),
                    aliases=(f"services/{name}",))
             for name in services]
    return rows


def _project(name: Any) -> str:
    parts = str(name or "").split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "projects" else ""
