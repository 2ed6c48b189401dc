"""A backend with switchable scopes (kubernetes-like contexts and namespaces), no cluster:
for the palette's ``ctx`` / ``ns``, the header and the panes that follow a switch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cockpit.core.backends.base import Backend, Capability, Health, Identity, Target
from cockpit.core.errors import CockpitError

#: context -> namespace -> pod names (the first namespace is the context's default)
CLUSTERS: dict[str, dict[str, list[str]]] = {
    "salvage-eu": {"euystacio-ai": ["euystacio-api-7d9f-abcde", "opa-peace-bonds-5c7b-x2"],
                   "monitoring": ["prometheus-0"]},
    "salvage-us": {"euystacio-ai": ["euystacio-api-6b2c-zzzzz"], "staging": []},
}


class ScopeBackend(Backend):
    """Pods of the current context and namespace; ``gate`` (when set) holds
    ``scope_choices`` until it is opened; ``refuse`` makes ``switch_scope`` fail."""

    kind = "fakekube"
    capabilities = Capability.TARGETS | Capability.LOGS | Capability.LOGS_SINCE
    target_noun = "pod"
    scope_verbs = {"ctx": "context", "ns": "namespace"}

    def __init__(self, context: str = "salvage-eu", namespace: str = "euystacio-ai") -> None:
        super().__init__({})
        self.context = context
        self.namespace = namespace
        self.gate: asyncio.Event | None = None
        self.refuse: str | None = None
        self.choice_calls: list[str] = []
        self.switches: list[tuple[str, str]] = []
        self.logging: set[str] = set()  #: targets whose log streams are open now
        self.watching = 0  #: target streams open now
        self.watches = 0  #: target streams opened in all

    def identity(self) -> Identity:
        return Identity("fakekube", host="https://127.0.0.1:6443", context=self.context,
                        namespace=self.namespace)

    async def start(self, spec):  # pragma: no cover - nothing runs here
        raise AssertionError("not used")

    async def scope_choices(self, scope: str) -> list[str]:
        self.choice_calls.append(scope)
        if self.gate is not None:
            await self.gate.wait()
        if scope == "context":
            return sorted(CLUSTERS)
        if scope == "namespace":
            return list(CLUSTERS[self.context])
        return []

    async def switch_scope(self, scope: str, value: str) -> None:
        if self.gate is not None:  # a slow switch, where a test holds it
            await self.gate.wait()
        if self.refuse is not None:
            raise CockpitError(f"{self.refuse}\nsecond line never shown")
        if scope == "context":
            if value not in CLUSTERS:
                raise CockpitError(f"no context {value!r} in the kubeconfig")
            self.context, self.namespace = value, next(iter(CLUSTERS[value]))
        elif scope == "namespace":
            if value not in CLUSTERS[self.context]:
                raise CockpitError(f"no namespace {value!r} in {self.context}")
            self.namespace = value
        else:
            raise CockpitError(f"no scope {scope}")
        self.switches.append((scope, value))

    async def list_targets(self) -> list[Target]:
        pods = CLUSTERS[self.context][self.namespace]
        return [Target(f"{self.namespace}/pod/{name}", name, "pod", "running",
                       scope=self.namespace, health=Health("ok", "Ready"))
                for name in pods]

    async def watch_targets(self) -> AsyncIterator[list[Target]]:
        self.watching += 1
        self.watches += 1
        try:
            yield await self.list_targets()
            await asyncio.Event().wait()  # nothing changes until a switch restarts it
        finally:
            self.watching -= 1

    async def logs(self, query):
        """One line per target, then the stream stays open (until closed)."""
        from cockpit.core.backends.logs import LogRecord

        target = query.targets[0]
        self.logging.add(target)
        try:
            yield [LogRecord(1.0, f"hello from {target}", target, logged=True)]
            await asyncio.Event().wait()
        finally:
            self.logging.discard(target)
