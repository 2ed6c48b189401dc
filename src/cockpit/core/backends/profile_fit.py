"""Fit a loaded profile to its backend (generic for every backend): the declared
operations become actions ``KIND.OPERATION``, actions naming an operation or a target
and metrics naming a statistic are checked against what the backend declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cockpit.core.backends.operations import Operation

if TYPE_CHECKING:
    from cockpit.core.backends.base import Backend
    from cockpit.core.backends.options import BackendOptions

Problems = list[tuple[tuple[str | int, ...], str]]
_LEVELS = ("safe", "caution", "dangerous")


def enabled_operations(backend: type[Backend], opts: BackendOptions) -> tuple[
        list[Operation], Problems]:
    """The declared operations with the profile's ``operations:`` applied."""
    declared = backend.operations(opts)
    settings = opts.operations
    if settings is False:
        return [], []
    names = {op.name for op in declared}
    problems: Problems = [
        (("backend", "operations", name),
         f"backend.operations: unknown operation {name!r} of the {backend.kind} backend "
         f"(known: {', '.join(sorted(names)) or 'none'})")
        for name in settings if name not in names
    ]
    chosen = []
    for op in declared:
        level = settings.get(op.name, op.danger)
        if level is False:
            continue
        chosen.append(op if level == op.danger else _with_danger(op, level))
    return chosen, problems


def _with_danger(op: Operation, level: Any) -> Operation:
    from dataclasses import replace

    return replace(op, danger=level)


def operation_action(backend: type[Backend], op: Operation, target_param: dict[str, Any]
                     ) -> dict[str, Any]:
    """The profile action (as a dict) that runs ``op``."""
    param = {"name": op.target_param, **target_param}
    return {
        "id": f"{backend.kind}.{op.name}", "title": op.title, "description": op.description,
        "tags": [backend.kind, *op.tags], "danger": op.danger, "operation": op.name,
        "target": "{" + op.target_param + "}", "params": [param, *map(dict, op.params)],
        "timeout": op.timeout,
    }


def fit_profile(backend: type[Backend], profile: Any) -> Problems:
    """Add the operation actions and check the profile against the backend."""
    from cockpit.core.config.models import Action, TargetMetric

    try:
        opts = backend.options_model.model_validate(
            {"kind": backend.kind, **profile.backend.options})
    except ValidationError:
        return []  # reported with FILE:LINE by the loader before this runs
    problems: Problems = []
    operations, found = enabled_operations(backend, opts)
    problems += found
    declared = {op.name: op for op in backend.operations(opts)}
    problems += backend.fit_actions(profile, opts)
    have = {a.id for a in profile.actions}
    enabled = {op.name: op for op in operations}
    for index, action in enumerate(profile.actions):
        if action.operation is None:
            continue
        if action.operation not in declared:
            problems.append((("actions", index, "operation"),
                             f"action {action.id!r}: the {backend.kind} backend has no "
                             f"operation {action.operation!r} (known: "
                             f"{', '.join(sorted(declared)) or 'none'})"))
        elif action.operation not in enabled:
            problems.append((("actions", index, "operation"),
                             f"action {action.id!r}: operation {action.operation!r} is "
                             "turned off by backend.operations"))
        else:
            # An action naming an operation is at least as dangerous as the operation
            # (as the profile set its level): a profile cannot make `kill` safe this way.
            floor = enabled[action.operation].danger
            if _LEVELS.index(floor) > _LEVELS.index(action.danger):
                action.danger = floor
    for op in operations:
        if f"{backend.kind}.{op.name}" in have:
            continue  # a profile action with the same id wins
        try:
            profile.actions.append(Action.model_validate(
                operation_action(backend, op, backend.target_param(opts, op))))
        except ValidationError as exc:  # a backend bug, said plainly
            problems.append((("backend",), f"operation {op.name}: {exc.errors()[0]['msg']}"))
    problems += _sources_fit(backend, profile)
    for index, metric in enumerate(getattr(profile, "metrics", [])):
        if isinstance(metric, TargetMetric) and metric.stat not in backend.stat_names:
            known = ", ".join(backend.stat_names) or "none"
            problems.append((("metrics", index, "stat"),
                             f"metric {metric.name!r}: the {backend.kind} backend has no "
                             f"statistic {metric.stat!r} (known: {known})"))
    return problems


def _sources_fit(backend: type[Backend], profile: Any) -> Problems:
    """Health probes and log sources of ``kind: target`` need a backend that has them."""
    from cockpit.core.backends.base import Backend, Capability
    from cockpit.core.config.models import EventsLogSource, TargetLogSource, TargetProbe

    problems: Problems = []
    caps = backend.capabilities
    for index, probe in enumerate(getattr(profile, "health", [])):
        if isinstance(probe, TargetProbe) and not caps & Capability.TARGETS:
            problems.append((("health", index, "kind"),
                             f"health probe {probe.name!r}: the {backend.kind} backend has no "
                             "targets (kind 'target' needs one that has)"))
        elif isinstance(probe, TargetProbe) and probe.selector is not None \
                and backend.select_targets is Backend.select_targets:
            problems.append((("health", index, "selector"),
                             f"health probe {probe.name!r}: the {backend.kind} backend has "
                             "no label selectors; name its targets with 'targets:'"))
    needed = Capability.TARGETS | Capability.LOGS | Capability.LOGS_SINCE
    for index, source in enumerate(getattr(profile, "logs", [])):
        if isinstance(source, TargetLogSource) and caps & needed != needed:
            problems.append((("logs", index, "kind"),
                             f"log source {source.name!r}: kind 'target' is not supported by "
                             f"the {backend.kind} backend (its logs carry no timestamps to "
                             "follow targets across restarts); use a file or command source"))
        if isinstance(source, EventsLogSource) and not caps & Capability.EVENT_LOG:
            problems.append((("logs", index, "kind"),
                             f"log source {source.name!r}: the {backend.kind} backend has no "
                             "events (kind 'events' needs one that has, like kubernetes)"))
    return problems
