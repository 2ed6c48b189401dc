"""The operations the kubernetes backend declares, previewed as their kubectl line.

Each becomes a profile action ``kubernetes.NAME`` (validated, refused read-only,
confirmed and recorded like any other); ``backend.operations`` changes a danger level
or leaves one out; a profile action with the same id wins. They run in ``operate.py``
(``exec`` in the exec module).

============================  =========  ===========================================
action                        danger     what
============================  =========  ===========================================
``kubernetes.scale``          caution    set a workload's replicas
``kubernetes.restart``        caution    rollout restart (the restartedAt annotation)
``kubernetes.undo``           dangerous  roll back to the previous or a given revision
``kubernetes.rollout-status`` safe       wait until the rollout is available
``kubernetes.delete-pod``     dangerous  delete a pod (its controller makes another)
``kubernetes.exec``           dangerous  run a command in a pod (or a workload's pod)
============================  =========  ===========================================
"""

from __future__ import annotations

from typing import Any

from cockpit.core.backends.kubernetes.options import KubernetesOptions
from cockpit.core.backends.operations import Operation, OperationCall

_SCALABLE = ("deployment", "statefulset")
_ROLLABLE = ("deployment", "statefulset", "daemonset")


def _op(name: str, danger: Any, title: str, description: str, kinds: tuple[str, ...],
        timeout: float = 60.0, params: tuple[dict[str, Any], ...] = ()) -> Operation:
    return Operation(name, title, description, danger, kinds, params, timeout,
                     target_param="target", tags=("kubernetes",))


OPERATIONS: tuple[Operation, ...] = (
    _op("scale", "caution", "Scale a workload",
        "kubectl scale: set the number of replicas of a Deployment or StatefulSet.",
        _SCALABLE, params=({"name": "replicas", "type": "int", "min": 0, "max": 10000,
                            "description": "the number of replicas"},)),
    _op("restart", "caution", "Restart a workload (rollout restart)",
        "kubectl rollout restart: new pods replace the old ones, as the workload's "
        "update strategy allows.", _ROLLABLE),
    _op("undo", "dangerous", "Roll back a deployment (rollout undo)",
        "kubectl rollout undo: the pod template of the previous revision (or "
        "'revision') comes back; the output lists the revision history with images.",
        ("deployment",),
        params=({"name": "revision", "type": "int", "min": 0, "default": 0,
                 "description": "the revision to go back to (0: the previous one)"},)),
    _op("rollout-status", "safe", "Wait for a rollout",
        "kubectl rollout status: wait until the workload's new pods are available, "
        "printing progress, or fail at the rollout timeout.", _ROLLABLE, timeout=330.0),
    _op("delete-pod", "dangerous", "Delete a pod",
        "kubectl delete pod: its controller (if any) starts a replacement.", ("pod",)),
    _op("exec", "dangerous", "Run a command in a pod",
        "kubectl exec: run an ad-hoc shell command in a pod (a workload: one of its "
        "running pods).", ("pod", *_ROLLABLE, "job"), timeout=300.0,
        params=({"name": "command", "description": "shell command to run"},
                {"name": "pod", "default": "", "required": False,
                 "regex": r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$",
                 "description": "the pod to run in (default: the target, or a workload's "
                                "first ready pod)"},
                {"name": "container", "default": "", "required": False,
                 "regex": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
                 "description": "the container (default: the profile's, else the pod's "
                                "default one)"})),
)
NAMES = frozenset(op.name for op in OPERATIONS)
#: The kind a bare name is taken as when the targets do not say (before the first list).
DEFAULT_KIND = {"scale": "deployment", "restart": "deployment", "undo": "deployment",
                "rollout-status": "deployment", "delete-pod": "pod", "exec": "pod"}


def kubectl_base(kubectl: str, kubeconfig: str | None, context: str | None,
                 namespace: str | None) -> list[str]:
    """``kubectl [--kubeconfig F] [--context C] [-n NS]``."""
    argv = [kubectl]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    if context:
        argv += ["--context", context]
    if namespace:
        argv += ["-n", namespace]
    return argv


def preview(call: OperationCall, base: list[str], qualified: str,
            rollout_timeout: float) -> list[str]:
    """The kubectl line doing what ``call`` does on ``qualified`` (``deployment/api``)."""
    args = call.args
    if call.name == "scale":
        return [*base, "scale", qualified, f"--replicas={args.get('replicas', '?')}"]
    if call.name == "restart":
        return [*base, "rollout", "restart", qualified]
    if call.name == "undo":
        revision = str(args.get("revision") or "0")
        extra = [f"--to-revision={revision}"] if revision not in ("", "0") else []
        return [*base, "rollout", "undo", qualified, *extra]
    if call.name == "rollout-status":
        return [*base, "rollout", "status", qualified, f"--timeout={rollout_timeout:g}s"]
    if call.name == "delete-pod":
        return [*base, "delete", qualified]
    if call.name == "exec":
        container = args.get("container")
        extra = ["-c", str(container)] if container else []
        if args.get("pod"):
            qualified = f"pod/{args['pod']}"
        return [*base, "exec", qualified, *extra, "--", "sh", "-c",
                str(args.get("command", ""))]
    return [*base, call.name, qualified]


def target_param(opts: KubernetesOptions, op: Operation) -> dict[str, Any]:
    """The ``target`` param: the profile's workloads as choices where the operation is
    on workloads and the profile lists them; else a name (``deployment/api``, ``api``)."""
    param: dict[str, Any] = {"description": "the workload or pod (KIND/NAME or NAME)"}
    workloads = [w for w in opts.workloads if w.split("/")[-2] in op.target_kinds]
    if workloads and "pod" not in op.target_kinds:
        param.update(type="choice", choices=workloads)
    else:
        param["regex"] = r"^[A-Za-z0-9][A-Za-z0-9_./-]*$"
    default = opts.default_target or (opts.workloads[0] if len(opts.workloads) == 1
                                       else None)
    if default and (not workloads or "pod" in op.target_kinds or default in workloads):
        param["default"] = default
    return param


def fit_actions(profile: Any, opts: KubernetesOptions) -> list[
        tuple[tuple[str | int, ...], str]]:
    """Actions without a ``target`` run in the default target (a pod of it), else on
    this host (a ``kubectl`` there talks to the same cluster)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    default = opts.default_target
    if default and opts.workloads and "/" in default and default not in opts.workloads:
        problems.append((("backend", "default_target"),
                         f"backend.default_target {default!r} is not one of the workloads"))
    for action in profile.actions:
        if action.target is None and action.where != "host" and action.operation is None \
                and default:
            action.target = default
    return problems
