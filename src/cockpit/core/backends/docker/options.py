"""``backend: {kind: docker, ...}`` options."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from cockpit.core.backends.options import Duration, Names, ProcessOptions


class DockerOptions(ProcessOptions):
    """Containers of one Docker engine.

    With neither ``containers`` nor ``project``, every container of the engine is a target.
    """

    #: the engine (``unix:///run/user/1000/docker.sock``, ``tcp://10.0.0.5:2376``);
    #: default ``$DOCKER_HOST``, else ``unix:///var/run/docker.sock``
    host: str | None = None
    containers: Names = Field(default_factory=list)  #: these containers, by name
    project: str | None = None  #: a Compose project's containers
    service: str | None = None  #: one service of ``project``
    #: where actions run when they name no ``target`` (default: the only container
    #: listed, or the ``service``); ``where: host`` runs an action on this host
    default_target: str | None = None
    stop_timeout: Duration = 10.0  #: grace before SIGKILL for stop and restart
    timeout: Duration = 10.0  #: how long an API call may take
    user: str | None = None  #: run execs as this user

    @field_validator("containers")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if not all(value):
            raise ValueError("a container name must not be empty")
        return value

    @model_validator(mode="after")
    def _selection(self) -> DockerOptions:
        if self.containers and self.project:
            raise ValueError("options 'containers' and 'project' exclude each other")
        if self.service and not self.project:
            raise ValueError("option 'service' needs 'project'")
        for key in ("project", "service", "default_target", "host"):
            if getattr(self, key) == "":
                raise ValueError(f"option {key!r} must not be empty")
        return self

    def chosen_default(self) -> str | None:
        """The container actions without a ``target`` run in."""
        if self.default_target:
            return self.default_target
        if len(self.containers) == 1:
            return self.containers[0]
        return self.service
