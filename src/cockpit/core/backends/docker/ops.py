"""The operations the docker backend declares on containers.

Each becomes a profile action ``docker.NAME`` (validated, refused in read-only mode,
confirmed and recorded like any other); ``backend.operations`` changes a danger level
or leaves one out (``{exec: caution, kill: false}``); a profile action with the same id
wins.

==================  =========  =============================================
action              danger     what
==================  =========  =============================================
``docker.start``    safe       start a stopped container
``docker.restart``  caution    restart (stop with grace, then start)
``docker.stop``     dangerous  stop (SIGTERM, SIGKILL after ``stop_timeout``)
``docker.kill``     dangerous  SIGKILL at once
``docker.pause``    caution    freeze every process of the container
``docker.unpause``  safe       thaw it
``docker.exec``     dangerous  run an ad-hoc command (``sh -c``) in a container
==================  =========  =============================================
"""

from __future__ import annotations

from typing import Any

from cockpit.core.backends.docker.options import DockerOptions
from cockpit.core.backends.operations import Operation, OperationCall

_CONTAINER = ("container",)


def _op(name: str, danger: Any, title: str, description: str, timeout: float = 60.0,
        params: tuple[dict[str, Any], ...] = ()) -> Operation:
    return Operation(name, title, description, danger, _CONTAINER, params, timeout,
                     target_param="container", tags=("container",),
                     states=_STATES.get(name, ()))


_RUNNING = ("running", "restarting")
_STATES: dict[str, tuple[str, ...]] = {  # where a view offers each (docker's state words)
    "start": ("created", "exited", "dead"),
    "stop": (*_RUNNING, "paused"),
    "kill": (*_RUNNING, "paused"),
    "pause": _RUNNING,
    "unpause": ("paused",),
    "exec": ("running",),
}


OPERATIONS: tuple[Operation, ...] = (
    _op("start", "safe", "Start a container", "docker start: start a stopped container."),
    _op("restart", "caution", "Restart a container",
        "docker restart: stop it (SIGTERM, then SIGKILL after the grace) and start it.", 120.0),
    _op("stop", "dangerous", "Stop a container",
        "docker stop: SIGTERM, then SIGKILL after the grace; the service goes down.", 120.0),
    _op("kill", "dangerous", "Kill a container",
        "docker kill: SIGKILL at once, no clean shutdown."),
    _op("pause", "caution", "Pause a container",
        "docker pause: freeze every process of the container (it stops answering)."),
    _op("unpause", "safe", "Unpause a container", "docker unpause: thaw a paused container."),
    _op("exec", "dangerous", "Run a command in a container",
        "docker exec: run an ad-hoc shell command inside a running container.", 300.0,
        ({"name": "command", "description": "shell command to run"},)),
)


def preview(call: OperationCall, host: str | None) -> list[str]:
    """The docker CLI line doing what ``call`` does (``docker restart web``)."""
    engine = ["-H", host] if host else []
    if call.name == "exec":
        return ["docker", *engine, "exec", call.target, "sh", "-c",
                str(call.args.get("command", ""))]
    if call.name in ("stop", "restart") and "grace" in call.args:
        return ["docker", *engine, call.name, "-t", str(call.args["grace"]), call.target]
    return ["docker", *engine, call.name, call.target]


def target_param(opts: DockerOptions) -> dict[str, Any]:
    """The ``container`` param: a choice among the listed containers, else a name."""
    param: dict[str, Any] = {"description": "the container (name, or Compose service)"}
    if opts.containers:
        param.update(type="choice", choices=list(opts.containers))
    else:
        param["regex"] = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    default = opts.chosen_default()
    if default:
        param["default"] = default
    return param


def fit_actions(profile: Any, opts: DockerOptions) -> list[tuple[tuple[str | int, ...], str]]:
    """Actions without a ``target`` run in the default container (or need one)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    default = opts.chosen_default()
    if opts.containers and default and default not in opts.containers:
        problems.append((("backend", "default_target"),
                         f"backend.default_target {default!r} is not one of the containers"))
    for index, action in enumerate(profile.actions):
        if action.target is None and action.where != "host":
            if default is None:
                problems.append((
                    ("actions", index),
                    f"action {action.id!r}: name its container with 'target:' or run it "
                    "on this host with 'where: host' (the docker backend has no "
                    "default_target)",
                ))
            else:
                action.target = default
    return problems
