"""The in-memory object store of the double: resourceVersions, watch fan-out, selectors.

Every method runs on the double's event loop (the KubeDouble helpers hop there), so a
mutation is atomic: nothing awaits between reading and writing an object.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

ResKey = tuple[str, str, str]  # (group, version, plural)
ObjKey = tuple[ResKey, str | None, str]  # (resource, namespace or None, name)

HISTORY = 2000  # watch events remembered per resource (older resourceVersions get 410 Gone)


def now_rfc3339() -> str:
    """The current UTC time as the API writes it (seconds, Z)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version(res: ResKey) -> str:
    """``v1`` or ``group/version``."""
    return res[1] if not res[0] else f"{res[0]}/{res[1]}"


class Gone(Exception):
    """A watch asked for a resourceVersion older than the remembered history."""


class Store:
    """Objects by resource, namespace and name, with a global resourceVersion."""

    def __init__(self) -> None:
        self.objects: dict[ObjKey, dict[str, Any]] = {}
        self.rv = 100
        self.history: dict[ResKey, collections.deque[tuple[int, str, dict[str, Any]]]] = (
            collections.defaultdict(lambda: collections.deque(maxlen=HISTORY))
        )
        self.watchers: dict[ResKey, set[asyncio.Queue[tuple[str, dict[str, Any]] | None]]] = (
            collections.defaultdict(set)
        )
        self.listeners: list[Callable[[ResKey, str, dict[str, Any]], None]] = []
        self.defaulters: list[Callable[[ResKey, dict[str, Any]], None]] = []

    # -- reading -----------------------------------------------------------------------
    def get(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((res, namespace, name))

    def items(
        self,
        res: ResKey,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        """Objects of ``res`` (all namespaces when ``namespace`` is None), selected."""
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        out = [
            obj
            for (r, ns, _), obj in self.objects.items()
            if r == res and (namespace is None or ns == namespace)
            if matches_labels(obj, labels) and matches_fields(obj, fields)
        ]
        out.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return out

    def keys(self, res: ResKey) -> Iterator[ObjKey]:
        return (k for k in list(self.objects) if k[0] == res)

    # -- writing -----------------------------------------------------------------------
    def create(self, res: ResKey, kind: str, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object (fills uid, timestamps, generation); raises KeyError if it exists."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta["name"]
        if namespace is not None:
            meta["namespace"] = namespace
        key = (res, namespace, name)
        if key in self.objects:
            raise KeyError(name)
        obj["apiVersion"] = api_version(res)
        obj["kind"] = kind
        for defaulter in self.defaulters:
            defaulter(res, obj)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        if "spec" in obj:
            meta.setdefault("generation", 1)
        self._bump(obj)
        self.objects[key] = obj
        self._emit(res, "ADDED", obj)
        return obj

    def replace(self, res: ResKey, namespace: str | None, name: str, new: dict[str, Any]) -> dict[str, Any]:
        """Store ``new`` in place of the object (keeping identity fields); KeyError if absent."""
        key = (res, namespace, name)
        old = self.objects[key]
        new = copy.deepcopy(new)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "name", "namespace"):
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
            else:
                meta.pop(field, None)
        if old.get("spec") != new.get("spec") or (
            old["metadata"].get("deletionTimestamp") != meta.get("deletionTimestamp")
        ):
            meta["generation"] = int(old["metadata"].get("generation", 0)) + 1
        elif "generation" in old["metadata"]:
            meta["generation"] = old["metadata"]["generation"]
        if new == old:
            return old
        self._bump(new)
        self.objects[key] = new
        self._emit(res, "MODIFIED", new)
        return new

    def delete(self, res: ResKey, namespace: str | None, name: str) -> dict[str, Any]:
        """Remove the object; KeyError if absent."""
        obj = self.objects.pop((res, namespace, name))
        obj = copy.deepcopy(obj)
        self._bump(obj)
        self._emit(res, "DELETED", obj)
        return obj

    def _bump(self, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def _emit(self, res: ResKey, kind: str, obj: dict[str, Any]) -> None:
        snapshot = copy.deepcopy(obj)
        self.history[res].append((self.rv, kind, snapshot))
        for queue in list(self.watchers[res]):
            queue.put_nowait((kind, snapshot))
        for listener in list(self.listeners):
            listener(res, kind, snapshot)

    # -- watching ----------------------------------------------------------------------
    def since(self, res: ResKey, rv: int) -> list[tuple[str, dict[str, Any]]]:
        """Events of ``res`` after ``rv``; raises Gone when ``rv`` is older than the history."""
        events = self.history[res]
        if events and len(events) == events.maxlen and events[0][0] > rv + 1:
            raise Gone(str(rv))
        return [(kind, obj) for (ev_rv, kind, obj) in events if ev_rv > rv]

    def subscribe(self, res: ResKey) -> asyncio.Queue[tuple[str, dict[str, Any]] | None]:
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self.watchers[res].add(queue)
        return queue

    def unsubscribe(self, res: ResKey, queue: asyncio.Queue[Any]) -> None:
        self.watchers[res].discard(queue)

    def close_watchers(self) -> None:
        """End every open watch (the double is stopping, or a test drops watches)."""
        for queues in self.watchers.values():
            for queue in list(queues):
                queue.put_nowait(None)


# -- selectors -------------------------------------------------------------------------
_SET_RE = re.compile(r"^\s*(!?[\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text: str) -> list[tuple[str, str, set[str]]]:
    """``app=x,tier!=db,env in (a,b),!legacy,track`` → [(key, op, values)]."""
    out: list[tuple[str, str, set[str]]] = []
    for part in _split_selector(text or ""):
        match = _SET_RE.match(part)
        if match:
            values = {v.strip() for v in match.group(3).split(",") if v.strip()}
            out.append((match.group(1), match.group(2), values))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            out.append((key.strip(), "!=", {value.strip()}))
        elif "==" in part or "=" in part:
            key, value = re.split(r"==?", part, maxsplit=1)
            out.append((key.strip(), "=", {value.strip()}))
        elif part.startswith("!"):
            out.append((part[1:].strip(), "!exists", set()))
        else:
            out.append((part, "exists", set()))
    return out


def matches_labels(obj: dict[str, Any], selector: list[tuple[str, str, set[str]]]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for key, op, values in selector:
        present = key in labels
        value = labels.get(key)
        if (
            (op in ("=", "in") and (not present or value not in values))
            or (op in ("!=", "notin") and present and value in values)
            or (op == "exists" and not present)
            or (op == "!exists" and present)
        ):
            return False
    return True


def parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    """``metadata.name=x,status.phase!=Running`` → [(path, equal, value)]."""
    out = []
    for part in _split_selector(text or ""):
        if "!=" in part:
            key, value = part.split("!=", 1)
            out.append((key.strip(), False, value.strip()))
        else:
            key, value = re.split(r"==?", part, maxsplit=1)
            out.append((key.strip(), True, value.strip()))
    return out


def matches_fields(obj: dict[str, Any], selector: list[tuple[str, bool, str]]) -> bool:
    for path, equal, value in selector:
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        actual = "" if node is None else str(node)
        if (actual == value) != equal:
            return False
    return True
