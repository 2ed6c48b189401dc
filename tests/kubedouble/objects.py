"""Small helpers shaping objects as the controllers and the kubelet would."""

from __future__ import annotations

from typing import Any

from tests.kubedouble.store import now_rfc3339


def ensure_container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod's containerStatuses, one per spec container (created if missing)."""
    st = pod.setdefault("status", {})
    statuses = st.setdefault("containerStatuses", [])
    known = {c["name"] for c in statuses}
    for c in pod.get("spec", {}).get("containers", []):
        if c["name"] not in known:
            statuses.append(
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }
            )
    return statuses


def set_condition(obj: dict[str, Any], ctype: str, ok: bool, reason: str | None = None, message: str | None = None) -> None:
    """Set (or add) a status condition."""
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    value = "True" if ok else "False"
    for cond in conditions:
        if cond["type"] == ctype:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = now_rfc3339()
            cond["status"] = value
            if reason is not None:
                cond["reason"] = reason
            if message is not None:
                cond["message"] = message
            return
    cond = {"type": ctype, "status": value, "lastTransitionTime": now_rfc3339()}
    if reason is not None:
        cond["reason"] = reason
    if message is not None:
        cond["message"] = message
    conditions.append(cond)
