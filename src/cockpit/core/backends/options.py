"""Backend options as pydantic models: what ``backend: {kind: ..., ...}`` may hold.

Each backend declares its model (``Backend.options_model``); the profile loader
validates ``backend:`` with it and reports problems as ``FILE:LINE`` (unknown keys are
errors), so ``cockpit validate`` catches a misspelt option before anything runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from cockpit.core.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


def _listed(value: object) -> object:
    return [value] if isinstance(value, str) else value


#: a list of strings, or one string for a list of one (``containers: web``)
Names = Annotated[list[str], BeforeValidator(_listed)]
Danger = Literal["safe", "caution", "dangerous"]


class BackendOptions(BaseModel):
    """Options every backend takes."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    kind: str = "local"
    #: variables added to the environment of what runs (the profile's are added too)
    env: dict[str, str] = Field(default_factory=dict)
    #: the danger level of each declared operation, or false to leave it out;
    #: ``operations: false`` leaves them all out
    operations: dict[str, Danger | Literal[False]] | Literal[False] = Field(default_factory=dict)

    @field_validator("operations", mode="before")
    @classmethod
    def _levels(cls, value: object) -> object:
        if value is None:
            return {}
        if value is False:
            return value
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of operation to a danger level or false, "
                             "or false to leave them all out")
        bad = {k: v for k, v in value.items()
               if v is not False and v not in ("safe", "caution", "dangerous")}
        if bad:
            name, level = next(iter(bad.items()))
            raise ValueError(f"{name}: expected safe, caution, dangerous or false, "
                             f"not {level!r}")
        return value
    #: how often the target list is read again where the backend has no event stream
    targets_poll: Duration = 5.0


class ProcessOptions(BackendOptions):
    """Options of backends that run commands on this host."""

    kill_grace: Duration = 2.0  #: SIGTERM to SIGKILL when a command is cancelled
    eof_grace: Duration = 2.0  #: stop reading pipes held open after the main process exited
    unread_grace: Duration = 0.5  #: drop lines nobody reads this long after the end
