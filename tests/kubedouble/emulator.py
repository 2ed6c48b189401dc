"""A kmock 0.8 emulator subclass that speaks enough of the real API for kubectl and clients.

Routing is ours (kmock's path parser cannot read ``/api/v1/namespaces``, its store has no
resourceVersions and its watch replays history): kmock gives the server, the bundled
discovery data (``resources.load_bundled()``) and its DSL; reactions declared with the DSL
(``emulator["get /api/v1/namespaces/x/pods"] << 403``) still win over the built-in routes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import json
import logging
import math
import re
import traceback
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering

from tests.kubedouble import protobuf
from tests.kubedouble.api import (
    SERVER_VERSION,
    SUBRESOURCES,
    ApiError,
    ApiPath,
    error_response,
    forbidden_message,
    json_response,
    not_found,
    parse_api_path,
    qualified,
    status_body,
    version_key,
)
from tests.kubedouble.execws import serve_exec
from tests.kubedouble.faults import Faults
from tests.kubedouble.logs import LogBook, serve_log
from tests.kubedouble.patching import apply_patch
from tests.kubedouble.store import (
    Gone,
    ResKey,
    Store,
    matches_fields,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)
from tests.kubedouble.tables import table, wants_table

log = logging.getLogger("kubedouble")

# A subresource handler: (emulator, request, parsed path) -> response.
SubHandler = Callable[["KubeEmulator", aiohttp.web.BaseRequest, ApiPath], Awaitable[aiohttp.web.StreamResponse]]

_AGGREGATED = {"metrics.k8s.io"}  # served by an aggregated API server: listed last
_GROUP_ORDER = {"": 0, "apps": 1, "batch": 2, "autoscaling": 3, "policy": 4}
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_SCALABLE = {"deployments", "statefulsets", "replicasets", "replicationcontrollers"}


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """The emulator: an object store with watches, discovery, scale, faults and plug-ins."""

    store: Store = attrs.field(factory=Store, init=False)
    faults: Faults = attrs.field(factory=Faults, init=False)
    counts: collections.Counter[str] = attrs.field(factory=collections.Counter, init=False)
    subhandlers: dict[str, SubHandler] = attrs.field(factory=dict, init=False)
    kinds: dict[ResKey, Any] = attrs.field(factory=dict, init=False)
    namespaced: set[ResKey] = attrs.field(factory=set, init=False)
    tasks: set[asyncio.Task[Any]] = attrs.field(factory=set, init=False)
    closing: bool = attrs.field(default=False, init=False)
    logbook: LogBook = attrs.field(factory=LogBook, init=False)
    execs_started: int = attrs.field(default=0, init=False)
    exec_processes: set[Any] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        with warnings.catch_warnings():  # kmock 0.8 uses importlib.resources.read_binary
            warnings.simplefilter("ignore", DeprecationWarning)
            self.resources.load_bundled()
        for res in self.resources:
            info = self.resources[res]
            key = (res.group or "", res.version or "", res.plural or "")
            self.kinds[key] = info
            if info.namespaced:
                self.namespaced.add(key)
        self.subhandlers["log"] = serve_log
        self.subhandlers["exec"] = serve_exec
        self.store.listeners.append(self._forget_logs)

    def _forget_logs(self, res: ResKey, kind: str, obj: dict[str, Any]) -> None:
        if res == ("", "v1", "pods") and kind == "DELETED":
            meta = obj["metadata"]
            self.logbook.forget(meta.get("namespace", ""), meta["name"])

    # -- lookup --------------------------------------------------------------------------
    def resource_for(self, word: str) -> ResKey:
        """The resource a user word names: Kind, plural, singular, short name or G/V/plural."""
        if word.count("/") == 2 or (word.count("/") == 1 and word.startswith("v1/")):
            parts = word.split("/")
            key = ("", parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[1], parts[2])
            if key in self.kinds:
                return key
        low = word.lower()
        group_hint = None
        if "." in low:
            low, group_hint = low.split(".", 1)
        candidates = [
            res
            for res, info in self.kinds.items()
            if low in {res[2], (info.kind or "").lower(), (info.singular or "").lower()}
            | {s.lower() for s in info.shortnames}
            if group_hint is None or res[0] == group_hint
        ]
        if not candidates:
            raise KeyError(word)
        candidates.sort(
            key=lambda r: (
                r[0] in _AGGREGATED,
                _GROUP_ORDER.get(r[0], 9),
                r[0],
                tuple(-x for x in version_key(r[1])),
            )
        )
        return candidates[0]

    def kind_of(self, res: ResKey) -> str:
        return self.kinds[res].kind or res[2].capitalize()

    # -- entry point ---------------------------------------------------------------------
    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        await raw.read()
        try:
            request = await rendering.Request._parse(raw, id=len(self._requests))
        except Exception:  # kmock's parser fails on some paths (e.g. /api/v1/namespaces)
            request = rendering.Request(
                id=len(self._requests),
                raw_request=raw,
                url=raw.url,
                method=raw.method,
                params=dict(raw.query),
                headers=dict(raw.headers),
            )
        self._requests.append(request)
        if len(self._requests) > 4000:
            del self._requests[:2000]
        try:
            return await self._handle(request)
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:
            log.error("kubedouble: %s %s failed\n%s", raw.method, raw.path_qs, traceback.format_exc())
            return error_response(ApiError(500, "InternalError", f"kube double: {exc!r}"))

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        method, path = raw.method.upper(), raw.path
        self.counts[f"{method} {path}"] += 1
        rule = self.faults.take(("status",), method, path)
        if rule is not None:
            return error_response(self._fault_error(rule, method, path, raw))
        reaction = await self._user_reaction(request)
        if reaction is not None:
            return reaction
        return await self._route(raw, method, path)

    async def _user_reaction(self, request: rendering.Request) -> aiohttp.web.StreamResponse | None:
        """Reactions declared with kmock's DSL (anything but the fallbacks) answer first."""
        payloads = [p for p in self._payloads if not any(x == -math.inf for x in p.priorities)]
        payloads.sort(key=lambda p: tuple(-x for x in p.priorities))
        for payload in payloads:
            if request in payload._source and not payload._disabled.is_set():
                try:
                    return await payload(request)
                except rendering.ReactionMismatchError:
                    payload._disabled.set()
                except NotImplementedError:
                    pass
        return None

    def _fault_error(self, rule: Any, method: str, path: str, raw: aiohttp.web.BaseRequest) -> ApiError:
        message = rule.message
        details: dict[str, Any] = {}
        if message is None:
            ap = parse_api_path(path, self.namespaced)
            if ap is None:
                message = f'forbidden: User "{rule.user}" cannot {method.lower()} path "{path}"'
            else:
                verb = self._verb(method, ap, raw)
                message = forbidden_message(ap.res, ap.name, verb, ap.namespace, ap.sub, rule.user)
                details = {"kind": ap.plural}
                if ap.name:
                    details["name"] = ap.name
                if ap.group:
                    details["group"] = ap.group
        return ApiError(rule.code, rule.reason, message, details)

    @staticmethod
    def _verb(method: str, ap: ApiPath, raw: aiohttp.web.BaseRequest) -> str:
        if ap.sub in ("exec", "attach", "portforward"):
            return "create"
        if method == "GET":
            if raw.query.get("watch") in ("true", "1"):
                return "watch"
            return "get" if ap.name else "list"
        if method == "DELETE" and not ap.name:
            return "deletecollection"
        return _VERBS.get(method, method.lower())

    # -- routing -------------------------------------------------------------------------
    async def _route(self, raw: aiohttp.web.BaseRequest, method: str, path: str) -> aiohttp.web.StreamResponse:
        bare = path.rstrip("/") or "/"
        if method == "GET":
            if bare == "/version":
                return json_response(SERVER_VERSION)
            if bare == "/api":
                return json_response(self._api_versions(raw))
            if bare == "/apis":
                return json_response(self._group_list())
            if bare == "/":
                return json_response({"paths": self._paths()})
            if bare == "/api/v1":
                return json_response(self._resource_list("", "v1"))
            match = re.match(r"^/apis/([^/]+)(?:/([^/]+))?$", bare)
            if match:
                if match.group(2):
                    return json_response(self._resource_list(match.group(1), match.group(2)))
                return json_response(self._group(match.group(1)))
        ap = parse_api_path(path, self.namespaced)
        if ap is None or ap.res not in self.kinds:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if ap.sub:
            return await self._subresource(raw, method, ap)
        if method == "GET":
            if raw.query.get("watch") in ("true", "1"):
                return await self._watch(raw, ap)
            if wants_table(raw.headers.get("Accept", "")):
                items = [self._get(ap)] if ap.name else self._list(ap, raw)["items"]
                include = raw.query.get("includeObject")
                return json_response(table(ap.res, items, str(self.store.rv), include))
            if ap.name:
                return json_response(self._get(ap))
            return json_response(self._list(ap, raw))
        body = await self._body(raw)
        if method == "POST" and not ap.name:
            return json_response(self._create(ap, body, raw), status=201)
        if method == "PUT" and ap.name:
            return json_response(self._replace(ap, body, raw))
        if method == "PATCH" and ap.name:
            ctype = raw.headers.get("Content-Type", "application/merge-patch+json")
            return json_response(self._patch(ap, body, ctype, raw))
        if method == "DELETE":
            if ap.name:
                return json_response(self._delete(ap))
            for obj in self.store.items(ap.res, ap.namespace, raw.query.get("labelSelector", "")):
                meta = obj["metadata"]
                self.store.delete(ap.res, meta.get("namespace"), meta["name"])
            return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    @staticmethod
    async def _body(raw: aiohttp.web.BaseRequest) -> Any:
        ctype = raw.headers.get("Content-Type", "")
        data = await raw.read()
        if "protobuf" in ctype:
            try:
                return protobuf.decode(data)  # kubectl create namespace|configmap|secret
            except (ValueError, IndexError, UnicodeDecodeError) as exc:
                raise ApiError(415, "UnsupportedMediaType", f"the kube double cannot read this protobuf body: {exc}") from None
        if "cbor" in ctype:
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; got "{ctype}"')
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError:
            raise ApiError(400, "BadRequest", "the body of the request could not be decoded as JSON") from None

    # -- discovery -----------------------------------------------------------------------
    def _api_versions(self, raw: aiohttp.web.BaseRequest) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": raw.host}],
        }

    def _groups(self) -> dict[str, list[str]]:
        groups: dict[str, set[str]] = collections.defaultdict(set)
        for group, version, _ in self.kinds:
            if group:
                groups[group].add(version)
        order = sorted(groups, key=lambda g: (g in _AGGREGATED, _GROUP_ORDER.get(g, 9), g))
        return {g: sorted(groups[g], key=version_key, reverse=True) for g in order}

    def _group(self, name: str) -> dict[str, Any]:
        versions = self._groups().get(name)
        if not versions:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def _group_list(self) -> dict[str, Any]:
        groups = []
        for name in self._groups():
            group = self._group(name)
            del group["kind"], group["apiVersion"]
            groups.append(group)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _paths(self) -> list[str]:
        paths = {"/api", "/api/v1", "/apis", "/version", "/healthz", "/readyz", "/livez"}
        for group, versions in self._groups().items():
            paths.add(f"/apis/{group}")
            paths.update(f"/apis/{group}/{v}" for v in versions)
        return sorted(paths)

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        for res in sorted(r for r in self.kinds if r[:2] == (group, version)):
            info = self.kinds[res]
            entry: dict[str, Any] = {
                "name": res[2],
                "singularName": info.singular or self.kind_of(res).lower(),
                "namespaced": bool(info.namespaced),
                "kind": self.kind_of(res),
                "verbs": sorted(info.verbs),
            }
            if info.shortnames:
                entry["shortNames"] = sorted(info.shortnames)
            if info.categories:
                entry["categories"] = sorted(info.categories)
            entries.append(entry)
            for sub in sorted(info.subresources):
                kind, sub_group, sub_version, verbs = SUBRESOURCES.get(sub, (None, None, None, ["get"]))
                if sub == "proxy":
                    kind = f"{self.kind_of(res)}ProxyOptions"
                sub_entry: dict[str, Any] = {
                    "name": f"{res[2]}/{sub}",
                    "singularName": "",
                    "namespaced": bool(info.namespaced),
                    "kind": kind or self.kind_of(res),
                    "verbs": verbs,
                }  # no shortNames: a subresource inheriting them makes kubectl warn
                if sub_group is not None:
                    sub_entry["group"], sub_entry["version"] = sub_group, sub_version
                entries.append(sub_entry)
        if not entries and group:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": entries,
        }

    # -- objects -------------------------------------------------------------------------
    def _check_scope(self, ap: ApiPath) -> None:
        if ap.res in self.namespaced and ap.name and ap.namespace is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _get(self, ap: ApiPath) -> dict[str, Any]:
        self._check_scope(ap)
        assert ap.name is not None
        obj = self.store.get(ap.res, ap.namespace, ap.name)
        if obj is None:
            raise not_found(ap.res, ap.name)
        return obj

    def _list(self, ap: ApiPath, raw: aiohttp.web.BaseRequest) -> dict[str, Any]:
        items = self.store.items(
            ap.res,
            ap.namespace,
            raw.query.get("labelSelector", ""),
            raw.query.get("fieldSelector", ""),
        )
        return {
            "kind": f"{self.kind_of(ap.res)}List",
            "apiVersion": ap.res[1] if not ap.group else f"{ap.group}/{ap.version}",
            "metadata": {"resourceVersion": str(self.store.rv)},
            "items": items,
        }

    def _create(self, ap: ApiPath, body: Any, raw: aiohttp.web.BaseRequest) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of a create must be an object")
        namespace = ap.namespace
        if ap.res in self.namespaced and namespace is None:
            namespace = body.get("metadata", {}).get("namespace") or "default"
        name = body.get("metadata", {}).get("name")
        if not name and not body.get("metadata", {}).get("generateName"):
            raise ApiError(422, "Invalid", f"{self.kind_of(ap.res)} is invalid: metadata.name: Required value: name or generateName is required")
        if self._dry_run(raw):
            return body
        try:
            return self.store.create(ap.res, self.kind_of(ap.res), namespace if ap.res in self.namespaced else None, body)
        except KeyError:
            raise ApiError(
                409, "AlreadyExists", f'{qualified(ap.res)} "{name}" already exists',
                {"name": name, "kind": ap.plural, **({"group": ap.group} if ap.group else {})},
            ) from None

    @staticmethod
    def _dry_run(raw: aiohttp.web.BaseRequest) -> bool:
        return "All" in raw.query.getall("dryRun", [])

    def _replace(self, ap: ApiPath, body: Any, raw: aiohttp.web.BaseRequest) -> dict[str, Any]:
        self._get(ap)
        if self._dry_run(raw):
            return body
        assert ap.name is not None
        return self.store.replace(ap.res, ap.namespace, ap.name, body)

    def _patch(self, ap: ApiPath, body: Any, ctype: str, raw: aiohttp.web.BaseRequest) -> dict[str, Any]:
        old = self._get(ap)
        try:
            new = apply_patch(old, body, ctype)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from None
        if self._dry_run(raw):
            return new
        assert ap.name is not None
        return self.store.replace(ap.res, ap.namespace, ap.name, new)

    def _delete(self, ap: ApiPath) -> dict[str, Any]:
        self._get(ap)
        assert ap.name is not None
        return self.store.delete(ap.res, ap.namespace, ap.name)

    # -- subresources --------------------------------------------------------------------
    async def _subresource(self, raw: aiohttp.web.BaseRequest, method: str, ap: ApiPath) -> aiohttp.web.StreamResponse:
        assert ap.sub is not None
        handler = self.subhandlers.get(ap.sub)
        if handler is not None:
            return await handler(self, raw, ap)
        if ap.sub == "scale" and ap.plural in _SCALABLE:
            return json_response(await self._scale(raw, method, ap))
        if ap.sub == "status":
            plain = ApiPath(ap.group, ap.version, ap.plural, ap.namespace, ap.name)
            if method == "GET":
                return json_response(self._get(plain))
            body = await self._body(raw)
            old = self._get(plain)
            if method == "PATCH":
                new = apply_patch(old, body, raw.headers.get("Content-Type", ""))
            else:
                new = body
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status", {})
            assert ap.name is not None
            return json_response(self.store.replace(ap.res, ap.namespace, ap.name, merged))
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    async def _scale(self, raw: aiohttp.web.BaseRequest, method: str, ap: ApiPath) -> dict[str, Any]:
        plain = ApiPath(ap.group, ap.version, ap.plural, ap.namespace, ap.name)
        obj = self._get(plain)
        if method == "GET":
            return scale_of(obj)
        if method not in ("PATCH", "PUT"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        body = await self._body(raw)
        doc = scale_of(obj)
        new = apply_patch(doc, body, raw.headers.get("Content-Type", "")) if method == "PATCH" else body
        try:
            replicas = int(new["spec"]["replicas"])
        except (KeyError, TypeError, ValueError):
            raise ApiError(422, "Invalid", "Scale.spec.replicas: Required value") from None
        if replicas < 0:
            raise ApiError(422, "Invalid", f"Scale.apps \"{ap.name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0")
        if self._dry_run(raw):
            return new
        updated = copy.deepcopy(obj)
        updated.setdefault("spec", {})["replicas"] = replicas
        assert ap.name is not None
        return scale_of(self.store.replace(ap.res, ap.namespace, ap.name, updated))

    # -- watch ---------------------------------------------------------------------------
    async def _watch(self, raw: aiohttp.web.BaseRequest, ap: ApiPath) -> aiohttp.web.StreamResponse:
        query = raw.query
        timeout = float(query.get("timeoutSeconds") or 1800)
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""))
        rv = query.get("resourceVersion", "")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def wanted(obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata", {})
            if ap.namespace is not None and meta.get("namespace") != ap.namespace:
                return False
            if ap.name is not None and meta.get("name") != ap.name:
                return False
            return matches_labels(obj, labels) and matches_fields(obj, fields)

        as_table = wants_table(raw.headers.get("Accept", ""))
        include = query.get("includeObject")

        async def send(kind: str, obj: dict[str, Any]) -> None:
            if as_table and kind != "ERROR":
                obj = table(ap.res, [obj], obj["metadata"].get("resourceVersion", ""), include)
            await _write_event(response, kind, obj)

        fault = self.faults.take(("drop", "gone"), "GET", raw.path)
        queue = self.store.subscribe(ap.res)
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        try:
            initial: list[tuple[str, dict[str, Any]]]
            expired = fault is not None and fault.kind == "gone"
            if rv in ("", "0"):
                initial = [("ADDED", obj) for obj in self.store.items(ap.res, ap.namespace)]
            else:
                try:
                    initial = self.store.since(ap.res, int(rv))
                except (Gone, ValueError):
                    expired = True
                    initial = []
            initial = [(kind, obj) for kind, obj in initial if wanted(obj)]
            await response.prepare(raw)
            if expired:
                message = f"too old resource version: {rv or 0} ({self.store.rv})"
                await _write_event(response, "ERROR", status_body(410, "Expired", message))
                return response
            limit = fault.after if fault is not None and fault.kind == "drop" else None
            sent = 0
            for kind, obj in initial:
                if limit is not None and sent >= limit:
                    return response
                await send(kind, obj)
                sent += 1
            while not self.closing:
                if limit is not None and sent >= limit:
                    return response
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), min(remaining, 1.0))
                except TimeoutError:
                    if raw.transport is None or raw.transport.is_closing():
                        break
                    continue
                if item is None:
                    break
                kind, obj = item
                if wanted(obj):
                    await send(kind, obj)
                    sent += 1
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            self.store.unsubscribe(ap.res, queue)
            with contextlib.suppress(ConnectionError, RuntimeError):
                if response.prepared:
                    await response.write_eof()
        return response

    # -- background work -----------------------------------------------------------------
    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``coro`` on the double's loop; cancelled when the double stops."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


async def _write_event(response: aiohttp.web.StreamResponse, kind: str, obj: dict[str, Any]) -> None:
    await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")


def selector_string(obj: dict[str, Any]) -> str:
    """``spec.selector.matchLabels`` as a label selector string."""
    labels = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1 Scale`` of a workload."""
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": selector_string(obj),
        },
    }
