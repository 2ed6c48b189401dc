"""``backend: {kind: kubernetes, ...}`` options."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from cockpit.core.backends.options import Duration, Names, ProcessOptions

#: The workload kinds the backend lists (pods are their children).
WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset", "job")
#: What a user may type for a kind (kubectl's plural and short names too).
KIND_WORDS = {
    "deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
    "statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
    "daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
    "job": "job", "jobs": "job",
    "pod": "pod", "pods": "pod", "po": "pod",
}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def kind_word(word: str) -> str | None:
    """``deployment`` for ``deploy``, ``deployments``, ``Deployment``; None if unknown."""
    return KIND_WORDS.get(word.lower().split(".", 1)[0])


class KubernetesOptions(ProcessOptions):
    """Workloads and pods of one or more kubeconfig contexts and namespaces.

    With neither ``context`` nor ``contexts``, the kubeconfig's current context; with
    neither ``namespace`` nor ``namespaces``, each context's namespace, else ``default``;
    without ``workloads``, every workload of those namespaces.
    """

    #: the kubeconfig file(s) (``a:b`` merged); default ``$KUBECONFIG`` merged as
    #: kubectl does, else ``~/.kube/config``, else the in-cluster service account
    kubeconfig: str | None = None
    context: str | None = None
    contexts: Names = Field(default_factory=list)  #: a fleet: several contexts at once
    namespace: str | None = None
    namespaces: Names = Field(default_factory=list)
    #: ``deployment/euystacio-api`` (or ``NAMESPACE/KIND/NAME``): only these and their pods
    workloads: Names = Field(default_factory=list)
    selector: str | None = None  #: a label selector narrowing workloads and pods
    #: where actions without a ``target`` run (``deployment/api``); ``where: host`` runs
    #: an action on this host
    default_target: str | None = None
    container: str | None = None  #: default container for exec and logs
    timeout: Duration = 10.0  #: how long one API call may take
    rollout_timeout: Duration = 300.0  #: how long rollout-status waits
    kubectl: str = "kubectl"  #: the kubectl of shell hand-over and previews

    @field_validator("contexts", "namespaces")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not all(value):
            raise ValueError("a name must not be empty")
        if len(set(value)) != len(value):
            raise ValueError("a name is listed twice")
        return value

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"{name!r} is not a namespace name")
        return value

    @field_validator("workloads")
    @classmethod
    def _workloads(cls, value: list[str]) -> list[str]:
        return [normalize_workload(item) for item in value]

    @model_validator(mode="after")
    def _exclusive(self) -> KubernetesOptions:
        if self.context is not None and self.contexts:
            raise ValueError("options 'context' and 'contexts' exclude each other")
        if self.namespace is not None and self.namespaces:
            raise ValueError("options 'namespace' and 'namespaces' exclude each other")
        for key in ("context", "namespace", "kubeconfig", "selector", "default_target",
                    "container", "kubectl"):
            if getattr(self, key) == "":
                raise ValueError(f"option {key!r} must not be empty")
        if self.namespace is not None and not _NAME.match(self.namespace):
            raise ValueError(f"option 'namespace': {self.namespace!r} is not a namespace name")
        return self

    def profile_contexts(self) -> list[str]:
        """The contexts the profile names (empty: the kubeconfig's current one)."""
        return list(self.contexts) if self.contexts else (
            [self.context] if self.context else [])

    def profile_namespaces(self) -> list[str]:
        """The namespaces the profile names (empty: each context's own)."""
        return list(self.namespaces) if self.namespaces else (
            [self.namespace] if self.namespace else [])

    def fleet(self) -> bool:
        """Several contexts: target ids carry their context."""
        return len(self.contexts) > 1


def normalize_workload(text: str) -> str:
    """``KIND/NAME`` or ``NAMESPACE/KIND/NAME`` with KIND in its canonical word;
    raises ValueError for anything else."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"{text!r}: expected KIND/NAME or NAMESPACE/KIND/NAME "
                         "(deployment/api)")
    kind = kind_word(parts[-2])
    if kind is None or kind == "pod":
        raise ValueError(f"{text!r}: {parts[-2]!r} is not one of "
                         f"{', '.join(WORKLOAD_KINDS)}")
    if not _NAME.match(parts[-1]):
        raise ValueError(f"{text!r}: {parts[-1]!r} is not a Kubernetes name")
    return "/".join([*parts[:-2], kind, parts[-1]])
