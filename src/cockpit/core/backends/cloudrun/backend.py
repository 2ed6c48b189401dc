"""The cloudrun backend: Cloud Run services and their revisions in one Google Cloud
project, one or more regions.

Options: ``cloudrun/options.py`` (``project``, ``region``/``regions``, ``services``,
``endpoints``, ``credentials``, ``access_token_file``, ``default_target``, ``timeout``,
``operation_timeout``, ``logs_poll``, ``metrics_window``, ``gcloud``), gcloud's
environment as defaults.

- ``connect()`` finds the regions and credentials (``auth.py``: a token file, else ADC
  through google-auth in a thread), the project (the option, gcloud's variables, else
  the ADC's), makes the client (``api.py``) and lists once, so names resolve.
- Targets (``targets.py``): each region listed concurrently (``GET .../services``, then
  each service's revisions); a region whose listing fails is one error row, the others go
  on (every region failing raises). ``watch_targets`` polls (``targets_poll``).
- Names a user types (``SERVICE``, ``services/SERVICE``, ``REVISION``,
  ``revisions/REVISION``, ``REGION/SERVICE[/REVISION]``) resolve against the listing;
  a name found in several regions is refused (``AmbiguousTarget``).
- Operations (``ops.py`` declared and previewed as gcloud lines, ``operate.py`` run,
  ``traffic.py`` gcloud's split semantics): update-traffic, rollback, delete-revision;
  a bad split is refused when prepared (``preview`` raises ``UsageError``).
- Commands without a target run on this host with ``CLOUDSDK_CORE_PROJECT`` and
  ``CLOUDSDK_RUN_REGION`` set to the backend's project and first region; a command naming
  a target is a failed execution (Cloud Run has no exec into a service).
- Logs (``logs.py``: Cloud Logging followed by polling) and statistics
  (``monitoring.py``: Cloud Monitoring) are imported when first asked for.
- ``:region`` (``scope_verbs``) switches between the profile's regions.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    Execution,
    LogItem,
    LogQuery,
    OutputLine,
    Target,
)
from cockpit.core.backends.cloudrun import ops
from cockpit.core.backends.cloudrun.options import (
    CloudRunOptions,
    endpoint,
    env_project,
    resolve_regions,
    token_file,
)
from cockpit.core.backends.identity import Identity
from cockpit.core.backends.operations import Operation, OperationCall
from cockpit.core.backends.options import BackendOptions
from cockpit.core.backends.process import HostProcesses
from cockpit.core.errors import CockpitError, UsageError

#: Cloud Monitoring statistics of a service (``monitoring.py``'s ``STAT_NAMES``)
STAT_NAMES = ("request_rate", "error_rate", "p99_latency_ms", "instances")
_PAGES_MAX = 50  #: pages of one listing followed at most
_CONCURRENT = 8  #: revision listings at once


class AmbiguousTarget(UsageError):
    """A name that several regions have: say which (``REGION/NAME``)."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A service (or one of its revisions) resolved to its project and region."""

    project: str
    region: str
    service: str
    revision: str | None = None

    @property
    def id(self) -> str:
        base = f"{self.region}/{self.service}"
        return f"{base}/{self.revision}" if self.revision else base

    def service_path(self) -> str:
        return f"/v2/projects/{self.project}/locations/{self.region}/services/{self.service}"

    def revision_path(self) -> str:
        return f"{self.service_path()}/revisions/{self.revision}"


def _is_region(word: str) -> bool:
    from cockpit.core.backends.cloudrun.options import REGION

    return bool(REGION.match(word))


class CloudRunBackend(Backend):
    """Cloud Run services and revisions; see the module docstring."""

    kind: ClassVar[str] = "cloudrun"
    capabilities: ClassVar[Capability] = (
        Capability.RUN | Capability.SCRIPT | Capability.CANCEL | Capability.TARGETS
        | Capability.OPERATIONS | Capability.LOGS | Capability.LOGS_SINCE | Capability.STATS
    )
    stat_names: ClassVar[tuple[str, ...]] = STAT_NAMES
    options_model: ClassVar[type[BackendOptions]] = CloudRunOptions
    target_noun: ClassVar[str] = "service"
    scope_verbs: ClassVar[Mapping[str, str]] = {"region": "region"}
    log_text_has_time: ClassVar[bool] = False  #: an entry's time is beside its text

    def __init__(self, options: Mapping[str, Any] | BackendOptions | None = None) -> None:
        super().__init__(options)
        self.copts: CloudRunOptions = self.opts  # type: ignore[assignment]
        self.project: str | None = self.copts.project or env_project()
        try:
            self.regions: list[str] = resolve_regions(self.copts)
            self._region_problem: str | None = None
        except CockpitError as exc:
            self.regions, self._region_problem = [], str(exc)
        self.profile_regions = list(self.regions)
        self.api: Any = None  #: the GoogleAPI once connected
        self.tokens: Any = None
        #: an httpx transport for the client (tests: ``httpx.MockTransport``)
        self.transport: Any = None
        self.sleep = asyncio.sleep  #: how operations wait between polls (tests drive it)
        self.clock = time.monotonic  #: the operation deadline's clock (tests drive it)
        #: (region, service) -> (service JSON, revisions JSON), from the last listing
        self._known: dict[tuple[str, str], tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self._local: HostProcesses | None = None
        self._id = uuid.uuid4().hex[:12]

    # -- set-up ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Import google-auth (~60 ms) in a thread while the UI starts, where ADC is used."""
        if token_file(self.copts):
            return
        import threading

        def load() -> None:
            import google.auth
            import google.auth.transport.requests  # noqa: F401

        threading.Thread(target=load, name="cockpit-google-auth-import", daemon=True).start()

    async def connect(self) -> None:
        """Regions, credentials, project and client; then a first listing (a region that
        fails is its error row). Raises ``CockpitError`` (one line) when a region,
        credentials or the project cannot be had."""
        from cockpit.core.backends.cloudrun.api import GoogleAPI
        from cockpit.core.backends.cloudrun.auth import TokenSource

        if self._region_problem:
            raise CockpitError(self._region_problem)
        tokens = TokenSource(token_file=token_file(self.copts),
                             credentials=self.copts.credentials)
        await tokens.token()
        project = self.copts.project or env_project() or await tokens.project()
        if not project:
            raise CockpitError("cloudrun backend: no project: set option 'project' (or "
                               "$CLOUDSDK_CORE_PROJECT, or a project in the credentials)")
        old, self.api = self.api, GoogleAPI(self.copts, tokens, transport=self.transport)
        self.tokens, self.project = tokens, project
        self._local = None
        if old is not None:
            await old.aclose()
        try:
            await self.list_targets()
        except CockpitError:
            pass  # every region failed: the Targets pane says why when it lists

    async def close(self) -> None:
        api, self.api = self.api, None
        if api is not None:
            await api.aclose()

    async def api_call(self, method: str, path: str, *, api: str = "run",
                       params: Any = None, json: Any = None) -> dict[str, Any]:
        """One call through the client; ``CockpitError`` when not connected."""
        if self.api is None:
            raise CockpitError("the cloudrun backend is not connected")
        return await self.api.call(api, method, path, params=params, json=json)

    # -- identity -------------------------------------------------------------------------

    def identity(self) -> Identity:
        host = _host_of(endpoint(self.copts, "run"))
        return Identity("cloudrun", host=host, project=self.project,
                        region=",".join(self.regions) or None)

    def identity_for(self, target: str | None) -> Identity:
        """The target's own region and service (the backend's without a target)."""
        if not target:
            return self.identity()
        try:
            ref = self.resolve_nowait(target, None)
        except (CockpitError, ValueError):
            return self.identity()
        return Identity("cloudrun", host=_host_of(endpoint(self.copts, "run")),
                        project=ref.project, region=ref.region, service=ref.service)

    # -- scopes (:region) -----------------------------------------------------------------

    async def scope_choices(self, scope: str) -> list[str]:
        if scope != "region":
            raise CockpitError(f"the cloudrun backend has no {scope} to switch (it has "
                               "region)")
        named = self.profile_regions
        return ["all", *named] if len(named) > 1 else list(named)

    async def switch_scope(self, scope: str, value: str) -> None:
        allowed = await self.scope_choices(scope)
        if value not in allowed:
            raise CockpitError(f"no region {value!r} (known: {', '.join(allowed) or 'none'})")
        self.regions = list(self.profile_regions) if value == "all" else [value]
        self._local = None  # host commands follow the new first region

    # -- targets --------------------------------------------------------------------------

    async def list_targets(self) -> list[Target]:
        """Services and their revisions of every current region, listed concurrently; a
        region that fails is one error row (all of them failing raises)."""
        if self.api is None:
            raise CockpitError("the cloudrun backend is not connected")
        regions = list(self.regions)
        found = await asyncio.gather(*(self._list_region(r) for r in regions))
        errors = [rows[0] for rows in found if rows and rows[0].kind == "region"]
        if regions and len(errors) == len(regions):
            if len(errors) == 1:
                raise CockpitError(errors[0].health.reason)
            raise CockpitError("; ".join(f"{t.name}: {t.health.reason}" for t in errors))
        return [t for rows in found for t in rows]

    async def _list_region(self, region: str) -> list[Target]:
        from cockpit.core.backends.cloudrun.targets import (
            missing_service,
            region_error,
            service_targets,
        )
        from cockpit.core.backends.cloudrun.traffic import short

        try:
            services = await self._paged(
                f"/v2/projects/{self.project}/locations/{region}/services", "services")
            wanted = set(self.copts.services)
            if wanted:
                services = [s for s in services if short(s.get("name")) in wanted]
            limit = asyncio.Semaphore(_CONCURRENT)

            async def revisions_of(svc: dict[str, Any]) -> list[dict[str, Any]]:
                async with limit:
                    return await self.list_revisions(region, short(svc.get("name")))

            revisions = await asyncio.gather(*(revisions_of(s) for s in services))
        except CockpitError as exc:
            return region_error(region, str(exc), self.copts.services)
        for key in [k for k in self._known if k[0] == region]:
            del self._known[key]
        rows: list[Target] = []
        listed = set()
        for svc, revs in sorted(zip(services, revisions, strict=True),
                                key=lambda pair: short(pair[0].get("name"))):
            name = short(svc.get("name"))
            listed.add(name)
            self._known[(region, name)] = (svc, revs)
            rows += service_targets(svc, region, revs)
        rows += [missing_service(region, name) for name in self.copts.services
                 if name not in listed]
        return rows

    async def list_revisions(self, region: str, service: str) -> list[dict[str, Any]]:
        """Every revision of a service (pages followed)."""
        return await self._paged(f"/v2/projects/{self.project}/locations/{region}/services/"
                                 f"{service}/revisions", "revisions")

    async def _paged(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        for _ in range(_PAGES_MAX):
            params = {"pageSize": "100", **({"pageToken": token} if token else {})}
            page = await self.api_call("GET", path, params=params)
            items += [i for i in page.get(key) or [] if isinstance(i, dict)]
            token = str(page.get("nextPageToken") or "")
            if not token:
                break
        return items

    def forget(self, region: str, service: str) -> None:
        """Drop what is known of a service (it changed: the next listing reads it)."""
        self._known.pop((region, service), None)

    async def select_targets(self, selector: str) -> list[Target]:
        """The services whose labels match ``selector`` (``k=v``, ``k!=v``, ``k``,
        ``!k``, comma-separated), health computed."""
        from cockpit.core.backends.cloudrun.traffic import short

        terms = _selector(selector)
        await self.list_targets()
        matched = {(region, name) for (region, name), (svc, _) in self._known.items()
                   if _matches(svc.get("labels") or {}, terms)}
        return [t for t in await self._targets_now()
                if t.kind == "service" and (t.scope, short(t.name)) in matched]

    async def _targets_now(self) -> list[Target]:
        from cockpit.core.backends.cloudrun.targets import service_targets

        return [t for (region, _), (svc, revs) in sorted(self._known.items())
                for t in service_targets(svc, region, revs)]

    def targets_hint(self) -> str:
        regions = ", ".join(self.regions) or "none"
        return (f"It lists Cloud Run services of project {self.project or '?'} in "
                f"{regions}; backend.regions and backend.services choose others.")

    def logs_streamable(self, target: Target) -> bool:
        return target.kind in ("service", "revision") and target.state != "missing"

    # -- resolving names ------------------------------------------------------------------

    def resolve_nowait(self, text: str, kind: str | None) -> Ref:
        """``text`` against what the last listing knows; ``kind`` "service",
        "revision" or None (either). Raises ``AmbiguousTarget`` for a name in several
        regions, ``CockpitError`` for one that cannot be placed."""
        project = self.project or ""
        parts = text.strip().split("/")
        if len(parts) == 3 and _is_region(parts[0]):
            if kind == "service":
                raise UsageError(f"{text} is a revision, not a service")
            return Ref(project, parts[0], parts[1], parts[2])
        if len(parts) == 2 and _is_region(parts[0]):
            if kind == "revision":
                raise UsageError(f"{text} is a service, not a revision")
            return Ref(project, parts[0], parts[1])
        if len(parts) == 2 and parts[0] in ("services", "revisions"):
            kind = "service" if parts[0] == "services" else "revision"
            parts = parts[1:]
        if len(parts) != 1 or not parts[0]:
            raise UsageError(f"{text!r}: expected SERVICE, REVISION, REGION/SERVICE or "
                             "REGION/SERVICE/REVISION")
        name = parts[0]
        if kind in ("service", None):
            regions = [r for r in self.regions if (r, name) in self._known]
            if len(regions) > 1:
                raise AmbiguousTarget(
                    f"service {name} is in {' and '.join(regions)}: name one "
                    f"({regions[0]}/{name})")
            if regions:
                return Ref(project, regions[0], name)
            if kind == "service":
                if len(self.regions) == 1:
                    return Ref(project, self.regions[0], name)
                raise CockpitError(f"no service {name} in {', '.join(self.regions)} "
                                   "(as last listed)")
        from cockpit.core.backends.cloudrun.traffic import short

        found = [(region, service) for (region, service), (_, revs) in self._known.items()
                 if region in self.regions and any(short(r.get("name")) == name
                                                    for r in revs)]
        if len(found) > 1:
            where = " and ".join(f"{r}/{s}" for r, s in found)
            raise AmbiguousTarget(f"revision {name} is in {where}: name one "
                                  f"({found[0][0]}/{found[0][1]}/{name})")
        if found:
            return Ref(project, found[0][0], found[0][1], name)
        guess = [s for s in self.copts.services if name.startswith(s + "-")]
        if len(self.regions) == 1 and guess:
            return Ref(project, self.regions[0], max(guess, key=len), name)
        raise CockpitError(f"no {kind or 'service or revision'} {name} in "
                           f"{', '.join(self.regions) or 'no region'} (as last listed)")

    async def resolve(self, text: str, kind: str | None) -> Ref:
        """``resolve_nowait``, listing again first when the name is not known yet."""
        try:
            return self.resolve_nowait(text, kind)
        except AmbiguousTarget:
            raise
        except CockpitError:
            await self.list_targets()
            return self.resolve_nowait(text, kind)

    # -- operations -----------------------------------------------------------------------

    @classmethod
    def operations(cls, options: BackendOptions) -> list[Operation]:
        return list(ops.OPERATIONS)

    @classmethod
    def fit_actions(cls, profile: Any, opts: BackendOptions) -> list[
            tuple[tuple[str | int, ...], str]]:
        return ops.fit_actions(profile, opts)  # type: ignore[arg-type]

    @classmethod
    def target_param(cls, opts: BackendOptions, op: Operation) -> dict[str, Any]:
        return ops.target_param(opts, op)  # type: ignore[arg-type]

    def preview(self, call: OperationCall) -> list[str]:
        """The gcloud line; a split (or rollback, or deletion) that cannot be done as
        the last listing shows the service is refused here (``UsageError``), before
        anyone is asked."""
        from cockpit.core.backends.cloudrun.operate import planned_traffic
        from cockpit.core.backends.cloudrun.targets import traffic_of
        from cockpit.core.backends.cloudrun.traffic import TrafficError, shares

        declared = ops.DECLARED.get(call.name)
        kind = declared.target_kinds[0] if declared else None
        try:
            ref: Ref | None = self.resolve_nowait(call.target, kind)
        except AmbiguousTarget:
            raise
        except UsageError:
            raise
        except CockpitError:
            ref = None
        region = ref.region if ref else (self.regions[0] if len(self.regions) == 1 else None)
        name = call.target.rsplit("/", 1)[-1]
        if ref is not None:
            name = ref.revision or ref.service if call.name == "delete-revision" \
                else ref.service
        known = self._known.get((ref.region, ref.service)) if ref else None
        previous = None
        try:
            if call.name == "update-traffic":
                ops.split_flag(call.args)
            if known is not None and call.name in ("update-traffic", "rollback"):
                svc, revs = known
                planned_traffic(call, svc, revs)
                if call.name == "rollback":
                    split = shares(traffic_of(svc), svc.get("latestReadyRevision"))
                    previous = ops.previous_revision(revs, split)
            if known is not None and call.name == "delete-revision" and ref is not None:
                svc, _ = known
                share = shares(traffic_of(svc), svc.get("latestReadyRevision")).get(
                    ref.revision or "")
                if share is not None and (share.percent or share.tags):
                    raise TrafficError(
                        f"revision {ref.revision} serves {share.percent}% of service "
                        f"{ref.service}'s traffic" + (f" (tag {','.join(share.tags)})"
                                                      if share.tags else "")
                        + ": move its traffic (and tags) first")
        except TrafficError as exc:
            raise UsageError(f"{call.name} {call.target}: {exc}") from None
        return ops.preview(call, self.copts.gcloud, self.project, region, name, previous)

    async def explain(self, call: OperationCall) -> list[str]:
        """Before update-traffic and rollback: the traffic now and after (REVISION, NOW,
        AFTER, TAG), read afresh; before delete-revision: what it deletes."""
        from cockpit.core.backends.cloudrun.operate import (
            planned_traffic,
            read_service,
            traffic_table,
        )
        from cockpit.core.backends.cloudrun.traffic import TrafficError

        declared = ops.DECLARED.get(call.name)
        if declared is None:
            return []
        try:
            ref = await self.resolve(call.target, declared.target_kinds[0])
            svc, revisions = await read_service(self, ref)
            head = (f"service {ref.service} (project {ref.project}, region {ref.region})")
            if call.name == "delete-revision":
                rev = next((r for r in revisions
                            if str(r.get("name", "")).endswith("/" + str(ref.revision))),
                           None)
                if rev is None:
                    return [f"{head} has no revision {ref.revision}"]
                image = ((rev.get("containers") or [{}])[0] or {}).get("image", "")
                return [f"deletes revision {ref.revision} of {head}",
                        f"created {rev.get('createTime', '?')}, image {image}"]
            try:
                after = planned_traffic(call, svc, revisions)
            except TrafficError as exc:
                return [f"{head}: refused: {exc}",
                        *traffic_table(svc, None, revisions)]
            return [f"{head}: traffic now and after", *traffic_table(svc, after, revisions)]
        except CockpitError as exc:
            return [f"cannot read {call.target} before {call.name}: {exc}"]

    # -- commands -------------------------------------------------------------------------

    async def start(self, spec: CommandSpec) -> Execution:
        """An operation, or a command on this host; never raises."""
        from cockpit.core.backends.cloudrun.operate import failed, start_operation

        display = spec.display()
        try:
            call = spec.operation
            if call is not None:
                if call.name not in ops.NAMES:
                    return failed(display, f"the cloudrun backend has no operation "
                                           f"{call.name}")
                if self.api is None:
                    return failed(display, "the cloudrun backend is not connected")
                return start_operation(self, call, display, spec.timeout)
            if spec.target is not None:
                return failed(display, f"Cloud Run has no exec into a service "
                                       f"({spec.target}): run the command on this host "
                                       "(leave out 'target')")
            return await self._host().start(spec)
        except Exception as exc:  # never raises: a failed execution says why
            return failed(display, str(exc) if isinstance(exc, CockpitError)
                          else f"{type(exc).__name__}: {exc}")

    def host_env(self) -> dict[str, str]:
        """``CLOUDSDK_CORE_PROJECT`` / ``CLOUDSDK_RUN_REGION`` for host commands."""
        env: dict[str, str] = {}
        if self.project:
            env["CLOUDSDK_CORE_PROJECT"] = self.project
        if self.regions:
            env["CLOUDSDK_RUN_REGION"] = self.regions[0]
        return env

    def _host(self) -> HostProcesses:
        if self._local is None:
            opts = self.copts
            self._local = HostProcesses(
                {**self.host_env(), **opts.env}, marker_prefix=self._id,
                kill_grace=opts.kill_grace, eof_grace=opts.eof_grace,
                unread_grace=opts.unread_grace)
        return self._local

    # -- logs and statistics --------------------------------------------------------------

    async def _log_filters(self, targets: tuple[str, ...]) -> list[tuple[str, str]]:
        from cockpit.core.backends.cloudrun.logs import target_filter

        out = []
        for text in targets:
            ref = await self.resolve(text, None)
            out.append((ref.id, target_filter(ref.project, ref.region, ref.service,
                                              ref.revision)))
        return out

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogItem]]:
        """Cloud Logging entries of the query's services and revisions (their filters
        ORed), followed by polling (``logs.follow_logs``)."""
        from cockpit.core.backends.base import LogNotice
        from cockpit.core.backends.cloudrun.logs import follow_logs

        try:
            filters = await self._log_filters(query.targets)
        except CockpitError as exc:
            yield [LogNotice(time.time(), ",".join(query.targets), "unreachable", str(exc))]
            return
        if not filters:
            return
        async for batch in follow_logs(self.api, self.project or "", [f for _, f in filters],
                                       query, poll=self.copts.logs_poll,
                                       regional=len(self.profile_regions) > 1):
            yield batch

    async def stream_logs(self, target_id: str, *, tail: int = 100, follow: bool = True,
                          since: float | None = None) -> AsyncIterator[OutputLine]:
        """One target's log lines, stamped with their logged time."""
        from cockpit.core.backends.base import LogRecord

        query = LogQuery(targets=(target_id,), tail=tail, follow=follow, since=since)
        async for batch in self.logs(query):
            for item in batch:
                if isinstance(item, LogRecord):
                    yield OutputLine("log", item.text, item.ts, item.truncated, item.source)
                elif item.kind == "unreachable":
                    raise CockpitError(item.text)

    async def target_stats(self, target_id: str) -> Mapping[str, float]:
        """Cloud Monitoring statistics of the service (a revision: its service's)."""
        from cockpit.core.backends.cloudrun.monitoring import service_stats

        await self.ensure_connected()
        ref = await self.resolve(target_id, None)
        if (ref.region, ref.service) not in self._known:  # Monitoring would say 0 of it
            await self.list_targets()
            if (ref.region, ref.service) not in self._known:
                raise CockpitError(f"no service {ref.service} in {ref.region}")
        return await service_stats(self.api, ref.project, ref.region, ref.service,
                                   window=self.copts.metrics_window)


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def _selector(text: str) -> list[tuple[str, str, str]]:
    terms = []
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term:
            key, _, value = term.partition("!=")
            terms.append(("!=", key.strip(), value.strip()))
        elif "=" in term:
            key, _, value = term.replace("==", "=").partition("=")
            terms.append(("=", key.strip(), value.strip()))
        elif term.startswith("!"):
            terms.append(("!", term[1:].strip(), ""))
        else:
            terms.append(("has", term, ""))
    if not terms:
        raise CockpitError(f"empty label selector {text!r}")
    return terms


def _matches(labels: Mapping[str, Any], terms: list[tuple[str, str, str]]) -> bool:
    for op, key, value in terms:
        have = labels.get(key)
        if op == "=" and have != value:
            return False
        if op == "!=" and have == value:
            return False
        if op == "has" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
    return True
