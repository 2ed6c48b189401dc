"""What a docker profile gets when it is loaded: built-in operations as actions, and the
default container of actions that name none.

The built-in actions are ordinary profile actions, so they are validated, refused in
read-only mode, confirmed and recorded like any other:

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

Each takes ``container`` (a choice among the listed containers; default: the default
target). Backend option ``operations`` changes a danger level or leaves one out
(``{exec: caution, kill: false}``); a profile action with the same id wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cockpit.core.backends.docker.targets import Selection

OPERATIONS: dict[str, tuple[str, str, str]] = {  # op -> (danger, title, description)
    "start": ("safe", "Start a container", "docker start: start a stopped container."),
    "restart": ("caution", "Restart a container",
                "docker restart: stop it (SIGTERM, then SIGKILL after the grace) and start it."),
    "stop": ("dangerous", "Stop a container",
             "docker stop: SIGTERM, then SIGKILL after the grace; the service goes down."),
    "kill": ("dangerous", "Kill a container", "docker kill: SIGKILL at once, no clean shutdown."),
    "pause": ("caution", "Pause a container",
              "docker pause: freeze every process of the container (it stops answering)."),
    "unpause": ("safe", "Unpause a container", "docker unpause: thaw a paused container."),
    "exec": ("dangerous", "Run a command in a container",
             "docker exec: run an ad-hoc shell command inside a running container."),
}
_DANGERS = ("safe", "caution", "dangerous")


def parse_selection(options: Mapping[str, Any]) -> Selection:
    """``containers`` / ``project`` / ``service`` options; ``ValueError`` when malformed."""
    names = options.get("containers") or []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
        raise ValueError("option 'containers' must be a list of container names")
    project, service = options.get("project"), options.get("service")
    for key, value in (("project", project), ("service", service)):
        if value is not None and not (isinstance(value, str) and value):
            raise ValueError(f"option {key!r} must be a name")
    if names and project:
        raise ValueError("options 'containers' and 'project' exclude each other")
    if service and not project:
        raise ValueError("option 'service' needs 'project'")
    return Selection(tuple(names), project, service)


def default_target(options: Mapping[str, Any], selection: Selection) -> str | None:
    explicit = options.get("default_target")
    if isinstance(explicit, str) and explicit:
        return explicit
    if len(selection.names) == 1:
        return selection.names[0]
    return selection.service


def builtin_actions(options: Mapping[str, Any], selection: Selection) -> tuple[
    list[dict[str, Any]], list[str]
]:
    """The built-in operation actions (as profile action dicts) and problems."""
    settings = options.get("operations")
    problems: list[str] = []
    if settings is None:
        settings = {}
    elif settings is False:
        return [], []
    elif not isinstance(settings, Mapping):
        return [], ["backend.operations must map an operation to a danger level or false"]
    for op, value in settings.items():
        if op not in OPERATIONS:
            problems.append(f"backend.operations: unknown operation {op!r} "
                            f"(known: {', '.join(OPERATIONS)})")
        elif value is not False and value not in _DANGERS:
            problems.append(f"backend.operations.{op}: expected safe, caution, dangerous "
                            f"or false, not {value!r}")
    default = default_target(options, selection)
    container: dict[str, Any] = {
        "name": "container", "description": "the container (name, or Compose service)",
    }
    if selection.names:
        container.update(type="choice", choices=list(selection.names))
    else:
        container["regex"] = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    if default:
        container["default"] = default
    actions = []
    for op, (danger, title, description) in OPERATIONS.items():
        level = settings.get(op, danger)
        if level is False or level not in _DANGERS:
            continue
        params = [dict(container)]
        if op == "exec":
            run = ["docker", "exec", "{container}", "sh", "-c", "{command}"]
            params.append({"name": "command", "description": "shell command to run"})
        else:
            run = ["docker", op, "{container}"]
        actions.append({
            "id": f"docker.{op}", "title": title, "description": description,
            "tags": ["docker", "container"], "danger": level, "operation": op,
            "target": "{container}", "run": run, "params": params,
            "timeout": 120.0 if op in ("stop", "restart") else 300.0 if op == "exec" else 60.0,
        })
    if selection.names and default and default not in selection.names:
        problems.append(f"backend.default_target {default!r} is not one of the containers")
    return actions, problems


def complete_docker_profile(profile: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Add the built-in actions and default targets to a loaded docker profile."""
    from cockpit.core.config.models import Action

    options = profile.backend.options
    try:
        selection = parse_selection(options)
    except ValueError as exc:
        return [(("backend",), f"backend: {exc}")]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    actions, messages = builtin_actions(options, selection)
    problems += [(("backend", "operations"), m) for m in messages]
    have = {a.id for a in profile.actions}
    default = default_target(options, selection)
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
    profile.actions.extend(Action.model_validate(a) for a in actions if a["id"] not in have)
    return problems
