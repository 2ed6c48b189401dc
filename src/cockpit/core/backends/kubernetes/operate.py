"""The declared operations, run: scale, restart, undo, rollout-status, delete-pod.

Each runs in a thread and says what it did, as kubectl would (``deployment.apps/api
scaled``). A refusal by the cluster (403 RBAC, 404, 409, ...) is a line on stderr and
exit code 1 (the run failed; the record's output says why); a cluster that cannot be
reached is the execution's error (nothing happened).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cockpit.core.backends.base import CommandSpec, Execution
from cockpit.core.backends.kubernetes import rollout
from cockpit.core.backends.kubernetes.cluster import Cluster, KubeError, Unreachable
from cockpit.core.backends.kubernetes.ops import OPERATIONS
from cockpit.core.backends.kubernetes.targets import GROUPS
from cockpit.core.backends.operations import OperationCall
from cockpit.core.backends.threaded import ThreadExecution, failed

if TYPE_CHECKING:
    from cockpit.core.backends.kubernetes.backend import KubernetesBackend, Resolved

_PLURAL = {"deployment": "deployments", "statefulset": "statefulsets",
           "daemonset": "daemonsets", "job": "jobs", "pod": "pods"}
_METHOD = {"deployment": "deployment", "statefulset": "stateful_set",
           "daemonset": "daemon_set"}


def kubectl_name(kind: str, name: str) -> str:
    """``deployment.apps/api`` (``pod/web-1`` for the core group)."""
    group = GROUPS.get(kind, "")
    return f"{kind}.{group}/{name}" if group else f"{kind}/{name}"


class OperationExecution(ThreadExecution):
    """``work(self)`` in a thread: it says lines and returns the exit code."""

    def __init__(self, display: str, work: Callable[[OperationExecution], int],
                 name: str) -> None:
        super().__init__(display)
        self.stop = threading.Event()
        self._work = work
        self._feed.run(self._produce, name=f"cockpit-k8s-{name}")

    def _produce(self, _feed: Any) -> None:
        try:
            code = self._work(self)
        except Unreachable as exc:
            self._finish(None, str(exc))
            return
        except KubeError as exc:
            self._say(str(exc), "stderr")
            self._finish(1)
            return
        except Exception as exc:  # a bug or an answer of an unexpected shape
            self._finish(None, f"{type(exc).__name__}: {exc}")
            return
        if self._cancelled:
            self._finish(None)
        else:
            self._finish(code)

    def say(self, text: str, stream: Any = "stdout") -> None:
        self._say(text, stream)

    async def cancel(self) -> None:
        """Stop waiting (rollout-status); a patch already sent stays sent."""
        if not self._done.is_set():
            self._cancelled = True
            self.stop.set()


def start_operation(backend: KubernetesBackend, call: OperationCall, resolved: Resolved,
                    spec: CommandSpec) -> Execution:
    """Start ``call`` on ``resolved`` (its kind checked against the operation)."""
    declared = {op.name: op for op in OPERATIONS}[call.name]
    display = spec.display()
    if resolved.kind not in declared.target_kinds:
        return failed(display, f"{call.name} applies to {', '.join(declared.target_kinds)}"
                               f", not {resolved.kind} {resolved.name}")
    cluster, ns, kind, name = resolved.cluster, resolved.namespace, resolved.kind, \
        resolved.name
    works: dict[str, Callable[[OperationExecution], int]] = {
        "scale": lambda ex: _scale(ex, cluster, ns, kind, name, call.args),
        "restart": lambda ex: _restart(ex, cluster, ns, kind, name),
        "undo": lambda ex: rollout.undo(ex, cluster, ns, name, call.args),
        "rollout-status": lambda ex: rollout.status(
            ex, cluster, ns, kind, name,
            min(backend.kopts.rollout_timeout, spec.timeout or backend.kopts.rollout_timeout)),
        "delete-pod": lambda ex: _delete_pod(ex, cluster, ns, name),
    }
    return OperationExecution(display, works[call.name], f"{call.name}-{name}")


def _scale(ex: OperationExecution, cluster: Cluster, ns: str, kind: str, name: str,
           args: Mapping[str, Any]) -> int:
    try:
        replicas = int(str(args.get("replicas")))
    except ValueError:
        ex.say(f"scale: replicas must be a whole number, not {args.get('replicas')!r}",
               "stderr")
        return 2
    method = f"apps.patch_namespaced_{_METHOD[kind]}_scale"
    resource = f"{_PLURAL[kind]}/scale"
    before = cluster.raw("get", resource, f"apps.read_namespaced_{_METHOD[kind]}_scale",
                         name, ns, missing=f"{kind} {name} in namespace {ns}")
    was = (before.get("spec") or {}).get("replicas")
    cluster.call_blocking("patch", resource, method, name, ns,
                          {"spec": {"replicas": replicas}},
                          missing=f"{kind} {name} in namespace {ns}")
    ex.say(f"{kubectl_name(kind, name)} scaled (replicas {was} -> {replicas}, "
           f"context {cluster.name}, namespace {ns})")
    return 0


def _restart(ex: OperationExecution, cluster: Cluster, ns: str, kind: str,
             name: str) -> int:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": now}}}}}
    cluster.call_blocking("patch", _PLURAL[kind], f"apps.patch_namespaced_{_METHOD[kind]}",
                          name, ns, body, missing=f"{kind} {name} in namespace {ns}")
    ex.say(f"{kubectl_name(kind, name)} restarted (restartedAt {now}, context "
           f"{cluster.name}, namespace {ns})")
    return 0


def _delete_pod(ex: OperationExecution, cluster: Cluster, ns: str, name: str) -> int:
    cluster.call_blocking("delete", "pods", "core.delete_namespaced_pod", name, ns,
                          missing=f"pod {name} in namespace {ns}")
    ex.say(f'pod "{name}" deleted (context {cluster.name}, namespace {ns})')
    return 0

