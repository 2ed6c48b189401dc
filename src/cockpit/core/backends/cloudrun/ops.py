"""The operations the cloudrun backend declares, previewed as their gcloud line.

Each becomes a profile action ``cloudrun.NAME`` (validated, refused read-only, confirmed
and recorded like any other); ``backend.operations`` changes a danger level or leaves one
out; a profile action with the same id wins. They run in ``operate.py``.

==========================  =========  ==================================================
action                      danger     what
==========================  =========  ==================================================
``cloudrun.update-traffic`` dangerous  a new split: ``to_revisions`` (``A=10,B=90``,
                                       ``LATEST`` allowed), ``to_tags`` (``blue=10``) or
                                       ``to_latest``; gcloud's semantics (``traffic.py``)
``cloudrun.rollback``       dangerous  all traffic to the revision created before the one
                                      serving now
``cloudrun.delete-revision`` dangerous delete a revision that serves no traffic
==========================  =========  ==================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cockpit.core.backends.cloudrun.options import CloudRunOptions
from cockpit.core.backends.cloudrun.traffic import (
    LATEST,
    Share,
    TrafficError,
    by_tags,
    parse_split,
)
from cockpit.core.backends.operations import Operation, OperationCall

_SPLIT = r"^$|^[A-Za-z0-9][-A-Za-z0-9_]*=[0-9]{1,3}(,[A-Za-z0-9][-A-Za-z0-9_]*=[0-9]{1,3})*$"
_TIMEOUT = 360.0  #: the default operation_timeout (300 s) and the reads around it


def _op(name: str, title: str, description: str, kinds: tuple[str, ...], target_param: str,
        params: tuple[dict[str, Any], ...] = ()) -> Operation:
    return Operation(name, title, description, "dangerous", kinds, params, _TIMEOUT,
                     target_param=target_param, tags=("cloudrun",))


OPERATIONS: tuple[Operation, ...] = (
    _op("update-traffic", "Update a service's traffic split",
        "gcloud run services update-traffic: give revisions (or tags, or the latest "
        "revision) their share of the requests; revisions not named share the rest in "
        "proportion, as gcloud does. The confirmation shows the split before and after.",
        ("service",), "service", params=(
            {"name": "to_revisions", "default": "", "required": False, "regex": _SPLIT,
             "description": "REVISION=PERCENT,... (LATEST: the latest ready revision)"},
            {"name": "to_tags", "default": "", "required": False, "regex": _SPLIT,
             "description": "TAG=PERCENT,... (a tag names the revision it tags)"},
            {"name": "to_latest", "type": "bool", "default": False, "required": False,
             "description": "all traffic to the latest ready revision"},
        )),
    _op("rollback", "Roll back a service (to the revision before the serving one)",
        "All traffic to the newest Ready revision created before the newest one serving "
        "now (by creation: Cloud Run keeps no history of what served; the table shows "
        "which). To go back to a revision by name: update-traffic.", ("service",),
        "service"),
    _op("delete-revision", "Delete a revision",
        "gcloud run revisions delete: a revision that serves no traffic (refused while it "
        "serves some).", ("revision",), "revision"),
)
NAMES = frozenset(op.name for op in OPERATIONS)
DECLARED = {op.name: op for op in OPERATIONS}


def _given(value: Any) -> bool:
    return value not in (None, "", False, "false", "False", "0")


def split_flag(args: Mapping[str, Any]) -> tuple[str, str]:
    """``("--to-revisions", "A=10,B=90")``, ``("--to-tags", ...)`` or ``("--to-latest",
    "")``: exactly one of ``to_revisions``, ``to_tags`` and ``to_latest``."""
    chosen = [key for key in ("to_revisions", "to_tags", "to_latest") if _given(args.get(key))]
    if len(chosen) != 1:
        raise TrafficError("update-traffic needs exactly one of to_revisions "
                           "(REVISION=PERCENT,...), to_tags (TAG=PERCENT,...) and to_latest"
                           + (f" (given: {', '.join(chosen)})" if chosen else ""))
    key = chosen[0]
    if key == "to_latest":
        return "--to-latest", ""
    text = str(args[key]).replace(" ", "")
    parse_split(text, "REVISION" if key == "to_revisions" else "TAG")  # refused early
    return "--" + key.replace("_", "-"), text


def new_percentages(args: Mapping[str, Any], traffic: Sequence[Mapping[str, Any]],
                    service: str) -> dict[str, int]:
    """What ``args`` asks, as gcloud's ``new_percentages`` (keys: revisions, LATEST)."""
    flag, text = split_flag(args)
    if flag == "--to-latest":
        return {LATEST: 100}
    if flag == "--to-tags":
        return by_tags(traffic, parse_split(text, "TAG"), service)
    return parse_split(text, "REVISION")


def gcloud_base(gcloud: str, noun: str, verb: str, name: str, project: str | None,
                region: str | None) -> list[str]:
    argv = [gcloud, "run", noun, verb, name]
    if project:
        argv += ["--project", project]
    if region:
        argv += ["--region", region]
    return argv


def preview(call: OperationCall, gcloud: str, project: str | None, region: str | None,
            name: str, previous: str | None = None) -> list[str]:
    """The gcloud line doing what ``call`` does (``name``: the service or revision)."""
    if call.name == "update-traffic":
        flag, text = split_flag(call.args)
        tail = [flag] if flag == "--to-latest" else [flag, text]
        return [*gcloud_base(gcloud, "services", "update-traffic", name, project, region),
                *tail]
    if call.name == "rollback":
        return [*gcloud_base(gcloud, "services", "update-traffic", name, project, region),
                "--to-revisions", f"{previous or 'PREVIOUS'}=100"]
    if call.name == "delete-revision":
        return [*gcloud_base(gcloud, "revisions", "delete", name, project, region), "--quiet"]
    return [gcloud, "run", call.name, name]


def previous_revision(revisions: Sequence[Mapping[str, Any]], split: Mapping[str, Share],
                      ) -> str:
    """The revision a rollback goes to: the newest Ready revision created before the
    newest one that serves traffic now; raises ``TrafficError`` when there is none."""
    from cockpit.core.backends.cloudrun.targets import (
        SUCCEEDED,
        epoch,
        newest_first,
        ready_condition,
    )
    from cockpit.core.backends.cloudrun.traffic import short

    ordered = newest_first(revisions)
    serving = [r for r in ordered if split.get(short(r.get("name")), Share()).percent > 0]
    if not serving:
        raise TrafficError("no revision serves traffic now: nothing to roll back from")
    newest = serving[0]
    since = epoch(newest.get("createTime")) or 0.0
    for rev in ordered:
        if rev is newest or (epoch(rev.get("createTime")) or 0.0) >= since:
            continue
        if ready_condition(rev).get("state") == SUCCEEDED:
            return short(rev.get("name"))
    raise TrafficError(f"no Ready revision older than {short(newest.get('name'))} to roll "
                       "back to")


def target_param(opts: CloudRunOptions, op: Operation) -> dict[str, Any]:
    """The service (choices: the profile's services, ``REGION/SERVICE`` when it names
    several regions) or the revision (a name) an operation acts on."""
    if "service" not in op.target_kinds:
        return {"description": "the revision (REVISION or REGION/SERVICE/REVISION)",
                "regex": r"^[a-z0-9][-a-z0-9/]*$"}
    param: dict[str, Any] = {"description": "the service (SERVICE or REGION/SERVICE)"}
    choices = list(opts.services)
    if choices and len(opts.regions) > 1:
        choices = [f"{r}/{s}" for r in opts.regions for s in opts.services]
    if choices:
        if opts.default_target and opts.default_target not in choices:
            choices.append(opts.default_target)
        param.update(type="choice", choices=choices)
    else:
        param["regex"] = r"^[a-z0-9][-a-z0-9/]*$"
    default = opts.default_target or (choices[0] if len(choices) == 1 else None)
    if default:
        param["default"] = default
    return param


def fit_actions(profile: Any, opts: CloudRunOptions) -> list[tuple[tuple[str | int, ...], str]]:
    """Commands run on this host: an action naming a target without an operation is
    refused when the profile is loaded (Cloud Run has no exec into a service)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, action in enumerate(profile.actions):
        if action.operation is None and action.target is not None:
            problems.append((("actions", index, "target"),
                             f"action {action.id!r}: Cloud Run has no exec into a service; "
                             "remove 'target:' (commands run on this host, gcloud set to "
                             "the backend's project and region)"))
    return problems
