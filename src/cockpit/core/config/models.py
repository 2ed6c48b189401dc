"""Pydantic models of a profile. Every model forbids unknown keys.

Durations are given as ``250ms``, ``5s``, ``2m`` (or a bare number of seconds)
and stored as float seconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from cockpit.core.config.envnames import reserved_env
from cockpit.core.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_FACTORS = {None: 1, "B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9,
                 "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def _byte_size(value: object) -> object:
    """``"4MB"`` / ``"512kB"`` / ``"8MiB"`` (or a bare number of bytes) -> bytes."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match is None:
            raise ValueError(f"invalid size {value!r}: use e.g. 512kB, 4MB, 8MiB")
        return int(float(match.group(1)) * _SIZE_FACTORS[match.group(2)])
    return value


ByteSize = Annotated[int, BeforeValidator(_byte_size)]


def _argv_numbers(value: object) -> object:
    """Numbers in an argv list (``[sleep, 5]``) become strings; anything else is checked.

    One call per list, not per element: a profile of 80,000 actions has 160,000 elements.
    """
    if isinstance(value, list) and not all(type(item) is str for item in value):
        return [
            str(item) if isinstance(item, int | float) and not isinstance(item, bool) else item
            for item in value
        ]
    return value


Argv = Annotated[list[str], BeforeValidator(_argv_numbers)]


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from None
    return value


#: A regular expression, checked when the profile is loaded.
Regex = Annotated[str, AfterValidator(_compiles)]
Danger = Literal["safe", "caution", "dangerous"]
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: ``{name}`` placeholders at the start of an argv element (``{a}{b}-x`` -> a, b).
_LEADING_PLACEHOLDERS = re.compile(r"^(?:\{[A-Za-z_][A-Za-z0-9_]*\})+")
_PLACEHOLDER_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Longest param value by default (``max_length`` raises it up to ``MAX_PARAM_LENGTH``).
DEFAULT_PARAM_LENGTH = 4096
#: Longest single argv element or environment string Linux accepts (MAX_ARG_STRLEN).
MAX_PARAM_LENGTH = 131_072

Loc = tuple[str | int, ...]


class LocatedError(ValueError):
    """Problems at paths inside the validated value, for ``FILE:LINE`` reporting.

    Each item is ``(loc, message, first)``: ``first`` (or None) is the path of an earlier
    occurrence the message refers to. ``str()`` reads well without a line map.
    """

    def __init__(self, items: list[tuple[Loc, str, Loc | None]]) -> None:
        self.items = items
        super().__init__("; ".join(
            f"{_loc_text(loc)}: {msg}" + (f" (first at {_loc_text(first)})" if first else "")
            for loc, msg, first in items
        ))


def _loc_text(loc: Loc) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def repeats(names: list[str]) -> list[tuple[int, int]]:
    """``(index, index of the first)`` for each name already seen earlier: one pass."""
    first: dict[str, int] = {}
    found = []
    for index, name in enumerate(names):
        seen = first.setdefault(name, index)
        if seen != index:
            found.append((index, seen))
    return found


class Strict(BaseModel):
    """Base: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=False, defer_build=True)


# --- backend ---------------------------------------------------------------------------


class BackendConfig(BaseModel):
    """``backend: {kind: local, ...}``; keys other than ``kind`` belong to the backend."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    kind: str = "local"

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# --- health ----------------------------------------------------------------------------


class _ProbeBase(Strict):
    name: str
    interval: Duration = 5.0
    timeout: Duration = 3.0


class HttpProbe(_ProbeBase):
    """GET a URL; check its status, and optionally JSON fields and a nested checks map."""

    kind: Literal["http"]
    url: str
    method: Literal["GET", "HEAD", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    #: dotted JSON path -> expected value (``status: healthy``); a list means "any of".
    expect_json: dict[str, Any] = Field(default_factory=dict)
    #: dotted path of a ``{"name": "healthy"|{...}}`` map that yields one row per sub-check.
    checks_field: str | None = "checks"
    #: values of a sub-check (or of a string status) that count as healthy.
    healthy_values: list[str] = Field(default_factory=lambda: ["ok", "healthy", "up", "pass"])


class TcpProbe(_ProbeBase):
    kind: Literal["tcp"]
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class CommandProbe(_ProbeBase):
    """Run a command through the profile's backend; exit status 0 is healthy."""

    kind: Literal["command"]
    run: Argv | None = None
    script: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> CommandProbe:
        if (self.run is None) == (self.script is None):
            raise ValueError("a command probe needs exactly one of 'run' and 'script'")
        return self


class TargetProbe(_ProbeBase):
    """The backend's targets (containers) as rows: state, health, uptime, restarts.

    One row named ``name`` (ok when every target is), then one sub-row per target. A
    target is ok when it runs and its own healthcheck (if any) says healthy.
    """

    kind: Literal["target"]
    targets: list[str] = Field(default_factory=list)  #: empty: every target
    #: a label selector (``app=opa-peace-bonds``) the backend resolves to targets, as it
    #: resolves names; generic code only passes it on
    selector: str | None = None

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("selector must not be empty (leave it out for every target)")
        return value


class AlertsProbe(_ProbeBase):
    """Firing alerts of a Prometheus server (or an Alertmanager-compatible API): one
    failing row per alert, one ok row when none fire."""

    kind: Literal["alerts"]
    url: str  #: base URL; ``/api/v1/alerts`` is appended unless the path ends in ``/alerts``
    #: only alerts whose labels have these values (``{severity: critical}``)
    match: dict[str, str] = Field(default_factory=dict)
    include_pending: bool = False  #: pending alerts too (as unknown rows)
    headers: dict[str, str] = Field(default_factory=dict)
    #: a longer answer is not read further (the probe fails and says so)
    max_body: ByteSize = Field(4_000_000, ge=1024)

    @field_validator("match", mode="before")
    @classmethod
    def _match_values(cls, value: object) -> object:
        if isinstance(value, dict):  # ``{code: 500}``: labels are strings
            return {k: str(v) if isinstance(v, int | float) and not isinstance(v, bool)
                    else v for k, v in value.items()}
        return value


Probe = Annotated[
    HttpProbe | TcpProbe | CommandProbe | TargetProbe | AlertsProbe,
    Field(discriminator="kind"),
]


# --- logs ------------------------------------------------------------------------------


class FileLogSource(Strict):
    """Follow a file from its end, surviving rotation and truncation."""

    kind: Literal["file"]
    name: str
    path: str
    backlog: int = Field(100, ge=0, le=100_000)


class CommandLogSource(Strict):
    """Follow a command's output (``journalctl -f``, ``kubectl logs -f``...)."""

    kind: Literal["command"]
    name: str
    run: Argv | None = None
    script: str | None = None
    restart: bool = True  #: start it again (with backoff) when it exits

    @model_validator(mode="after")
    def _one_of(self) -> CommandLogSource:
        if (self.run is None) == (self.script is None):
            raise ValueError("a command log source needs exactly one of 'run' and 'script'")
        return self


class TargetLogSource(Strict):
    """Logs of the backend's targets (containers, pods), where the backend supports it."""

    kind: Literal["target"]
    name: str
    targets: list[str] = Field(default_factory=list)  #: empty: every target
    backlog: int = Field(100, ge=0, le=100_000)  #: lines of each target's past (``tail``)
    since: Duration | None = None  #: only lines of the last ``since`` (``10m``) as backlog


class EventsLogSource(Strict):
    """The events of a namespace (Kubernetes: ``kubectl get events -w``), where the
    backend has them; warnings are levelled ``warn``."""

    kind: Literal["events"]
    name: str
    namespace: str | None = None  #: default: the backend's namespace
    backlog: int = Field(100, ge=0, le=100_000)  #: past events shown first


LogSource = Annotated[
    FileLogSource | CommandLogSource | TargetLogSource | EventsLogSource,
    Field(discriminator="kind"),
]


# --- audit source ----------------------------------------------------------------------


class AuditSource(Strict):
    """The system's own JSON-lines audit log."""

    path: str
    columns: list[str] = Field(
        default_factory=lambda: ["ts_utc", "event_type", "decision", "reason_codes", "trace_id"]
    )
    backlog: int = Field(1000, ge=0, le=1_000_000)


# --- metrics ---------------------------------------------------------------------------


class Threshold(Strict):
    """``{above: X}`` or ``{below: X}``: the state is reached past that value."""

    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Threshold:
        if (self.above is None) == (self.below is None):
            raise ValueError("a threshold needs exactly one of 'above' and 'below'")
        return self


class _MetricBase(Strict):
    name: str
    unit: str = ""
    interval: Duration = 5.0
    timeout: Duration = 3.0
    window: int = Field(60, ge=2, le=10_000)  #: samples kept for the sparkline
    warn: Threshold | None = None
    crit: Threshold | None = None


class PrometheusMetric(_MetricBase):
    """A series scraped from a Prometheus exposition endpoint."""

    kind: Literal["prometheus"]
    url: str
    metric: str  #: family name (``demo_requests_total``, ``demo_latency_seconds``)
    labels: dict[str, str] = Field(default_factory=dict)
    #: how to reduce the selected series: sum them, turn the counter into a per-second
    #: rate, or estimate a quantile from histogram buckets.
    aggregate: Literal["sum", "rate", "quantile"] = "sum"
    quantile: float = Field(0.95, gt=0, lt=1)
    #: a page longer than this is not read further (the metric reports the cap)
    max_body: ByteSize = Field(4_000_000, ge=1024)
    #: matching series kept per scrape; more are dropped, and the metric says how many
    max_series: int = Field(10_000, ge=1, le=1_000_000)


class PromQLMetric(_MetricBase):
    """An instant query against a Prometheus server's ``/api/v1/query``."""

    kind: Literal["promql"]
    url: str  #: base URL of the Prometheus server
    query: str
    #: a longer answer is not read further (the metric reports the cap)
    max_body: ByteSize = Field(4_000_000, ge=1024)


class HostMetric(_MetricBase):
    """A metric of this machine via psutil."""

    kind: Literal["host"]
    metric: Literal["cpu_percent", "mem_percent", "load1", "disk_percent", "swap_percent"]
    path: str = "/"  #: for disk_percent


class ProbeLatencyMetric(_MetricBase):
    """The latency of one of the profile's health probes, in milliseconds."""

    kind: Literal["probe_latency"]
    probe: str


class TargetMetric(_MetricBase):
    """A statistic of the backend's targets (containers) from the backend's stats stream.

    ``target`` names one target; without it the values of every target are summed.
    """

    kind: Literal["target"]
    stat: str  #: one the backend declares (docker: cpu_percent, mem_bytes, mem_percent, restarts)
    target: str | None = None


class JsonMetric(_MetricBase):
    """A number in a JSON document (``GET url``, then the dotted ``path``:
    ``metrics.qek``). Metrics on one URL share one fetch per refresh."""

    kind: Literal["json"]
    url: str
    path: str  #: dotted path; list items by index (``items.0.value``)
    headers: dict[str, str] = Field(default_factory=dict)
    #: a longer answer is not read further (the metric reports the cap)
    max_body: ByteSize = Field(4_000_000, ge=1024)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.strip() or any(not part for part in value.split(".")):
            raise ValueError(f"invalid path {value!r}: use dotted keys, e.g. metrics.qek")
        return value


Metric = Annotated[
    PrometheusMetric | PromQLMetric | HostMetric | ProbeLatencyMetric | TargetMetric
    | JsonMetric,
    Field(discriminator="kind"),
]


# --- actions ---------------------------------------------------------------------------


class Param(Strict):
    """A parameter of an action. Reaches the command as an argv element or an env var."""

    name: str
    type: Literal["string", "int", "float", "bool", "choice"] = "string"
    description: str = ""
    default: Any = None
    required: bool | None = None  #: default: required when there is no default
    regex: Regex | None = None
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None
    secret: bool = False
    env: str | None = None  #: env var name; default: the name upper-cased
    #: longest value accepted (characters); longer ones are refused before anything runs.
    max_length: int = Field(DEFAULT_PARAM_LENGTH, ge=1, le=MAX_PARAM_LENGTH)
    #: a value may start with ``-`` (a negative number too) where it begins an argv
    #: element (before any ``--``) or anywhere in a script; off, ``-o/path`` is refused
    #: there, since the program would read it as an option.
    allow_leading_dash: bool = False

    @field_validator("name", "env")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _PARAM_NAME.match(value):
            raise ValueError(
                f"{value!r} must be a letter or _ then letters, digits, _ "
                "(it names an environment variable)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"param {self.name!r} of type choice needs 'choices'")
        if self.choices is not None and self.type != "choice":
            raise ValueError(f"param {self.name!r}: 'choices' needs type choice")
        if isinstance(self.default, str) and len(self.default) > self.max_length:
            raise ValueError(
                f"param {self.name!r}: the default is longer than max_length "
                f"({self.max_length})"
            )
        return self

    @property
    def env_name(self) -> str:
        return self.env or self.name.upper()

    @property
    def is_required(self) -> bool:
        return self.default is None if self.required is None else self.required


class JsonFieldCheck(Strict):
    """The output (or its last JSON line) has ``path`` equal to ``equals``."""

    path: str
    equals: Any


class SuccessCheck(Strict):
    output_regex: Regex | None = None
    json_field: JsonFieldCheck | None = None


class Action(Strict):
    """A runbook action: an argv list (``run``) or a bash script (``script``)."""

    id: str
    title: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    run: Argv | None = None
    script: str | None = None
    params: list[Param] = Field(default_factory=list)
    danger: Danger = "safe"
    timeout: Duration = 300.0
    expect_exit: list[int] = Field(default_factory=lambda: [0])
    success: SuccessCheck | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    #: run inside this target (a container); ``{param}`` placeholders are replaced.
    target: str | None = None
    #: ``host`` runs the command on the backend's host even when the backend has a
    #: default target (the docker backend runs actions in its default container).
    where: Literal["target", "host"] | None = None
    #: an operation the backend declares (restart, stop, scale, ...) on ``target``,
    #: instead of a command; the backend runs it and previews its command line.
    operation: str | None = None
    #: set on the actions built from runbook steps, whose params are placeholders without
    #: per-param options: messages then say how a runbook allows a leading ``-``.
    _runbook_step: bool = PrivateAttr(default=False)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"action id {value!r} must be lower-case letters, digits, - _ .")
        return value

    @model_validator(mode="after")
    def _check(self) -> Action:
        if self.operation is not None:
            if self.run is not None or self.script is not None:
                raise ValueError(f"action {self.id!r}: an operation is run by the backend; "
                                 "remove 'run' and 'script'")
            if self.target is None:
                raise ValueError(f"action {self.id!r}: an operation needs 'target'")
        elif (self.run is None) == (self.script is None):
            raise ValueError(
                f"action {self.id!r} needs exactly one of 'run', 'script' and 'operation'")
        if self.run is not None and not self.run:
            raise ValueError(f"action {self.id!r}: 'run' must not be empty")
        if self.where == "host" and self.target is not None:
            raise ValueError(f"action {self.id!r}: 'target' and 'where: host' exclude each other")
        repeated = repeats([p.name for p in self.params])
        if repeated:
            raise LocatedError([
                (("params", i, "name"), f"duplicate param {self.params[i].name!r}",
                 ("params", first, "name"))
                for i, first in repeated
            ])
        if not self.title:
            self.title = self.id.replace("-", " ").capitalize()
        return self


    @property
    def runbook_step(self) -> bool:
        """Built from a runbook step (``runbooks.actions.step_action``)."""
        return self._runbook_step

    def mark_runbook_step(self) -> Action:
        self._runbook_step = True
        return self

    def leading_params(self) -> set[str]:
        """Params whose value can begin an argv element (or the target) and pass as an option.

        In ``run``, elements after a literal ``--`` are operands, not options, and are left
        out. A script's params are all of them: the script reads them from the environment
        and may put them anywhere (``find "$DIR"``), which the cockpit cannot tell.
        """
        if self.script is not None:
            return {p.name for p in self.params}
        templates = [self.target] if self.target else []
        for element in self.run or []:
            if element == "--":
                break
            templates.append(element)
        names = set()
        for template in templates:
            lead = _LEADING_PLACEHOLDERS.match(template)
            if lead:
                names.update(_PLACEHOLDER_NAME.findall(lead.group(0)))
        return names & {p.name for p in self.params}


# --- profile ---------------------------------------------------------------------------


class Profile(Strict):
    """One environment the cockpit watches and operates."""

    name: str
    description: str = ""
    backend: BackendConfig = Field(default_factory=BackendConfig)
    #: base for relative paths (env_file, log and audit paths, action cwd); default: the
    #: folder holding the profile file.
    workdir: str | None = None
    #: dotenv-style files (``KEY=value`` lines) whose variables join ``env``.
    env_file: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    read_only: bool = False
    theme: str | None = None
    banner: str | None = None  #: header colour, e.g. ``red`` for production
    health: list[Probe] = Field(default_factory=list)
    logs: list[LogSource] = Field(default_factory=list)
    audit: AuditSource | None = None
    metrics: list[Metric] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    runbooks: list[str] = Field(default_factory=list)
    #: the demo profile starts its bundled service; other profiles leave this off.
    demo: bool = False

    @model_validator(mode="after")
    def _unique(self) -> Profile:
        items: list[tuple[Loc, str, Loc | None]] = []
        for where, key, what, names in (
            ("actions", "id", "action id", [a.id for a in self.actions]),
            ("health", "name", "health probe name", [p.name for p in self.health]),
            ("logs", "name", "log source name", [s.name for s in self.logs]),
            ("metrics", "name", "metric name", [m.name for m in self.metrics]),
        ):
            items += [
                ((where, i, key), f"duplicate {what} {names[i]!r}", (where, first, key))
                for i, first in repeats(names)
            ]
        probes = {p.name for p in self.health}
        items += [
            (("metrics", i, "probe"), f"metric {m.name!r} names unknown probe {m.probe!r}", None)
            for i, m in enumerate(self.metrics)
            if isinstance(m, ProbeLatencyMetric) and m.probe not in probes
        ]
        items += self._param_problems()
        if items:
            raise LocatedError(items)
        return self

    def _param_problems(self) -> list[tuple[Loc, str, Loc | None]]:
        """Params that would set an environment variable that changes how programs run,
        and defaults that ``validate_params`` would refuse as options.

        Checked here, not on ``Param``: a runbook's ``$VAR`` becomes a param named after
        the variable it fills, and ``validate_params`` refuses those values when given.
        """
        items: list[tuple[Loc, str, Loc | None]] = []
        for i, action in enumerate(self.actions):
            leading = action.leading_params() if action.params else set()
            for j, param in enumerate(action.params):
                default = param.default
                if (
                    param.name in leading
                    and not param.allow_leading_dash
                    and default is not None
                    and not isinstance(default, bool)
                    and str(default).startswith("-")
                ):
                    where = (
                        ": the script may hand it to a command that reads it as an option; "
                        "set allow_leading_dash: true"
                        if action.script is not None
                        else " where the command would read it as an option; set "
                        "allow_leading_dash: true or place the argument after '--'"
                    )
                    items.append((
                        ("actions", i, "params", j, "default"),
                        f"the default of param {param.name!r} starts with '-'{where}",
                        None,
                    ))
                if reserved_env(param.env_name):
                    items.append((
                        ("actions", i, "params", j, "env" if param.env else "name"),
                        f"param {param.name!r} would set the environment variable "
                        f"{param.env_name}, which changes how programs run; "
                        f"give it another name or env: (e.g. env: ARG_{param.env_name.upper()})",
                        None,
                    ))
        return items

    @field_validator("env_file", mode="before")
    @classmethod
    def _env_file_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.actions if a.id == action_id), None)

    def speaks_http(self) -> bool:
        """Whether its probes or metrics make HTTP requests."""
        return any(isinstance(p, HttpProbe | AlertsProbe) for p in self.health) or any(
            isinstance(m, PrometheusMetric | PromQLMetric | JsonMetric) for m in self.metrics)
