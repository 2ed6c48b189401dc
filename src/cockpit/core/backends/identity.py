"""Who and where a backend operates, as structured fields for every audit record."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """``kind`` always; the others where they apply (None otherwise)."""

    kind: str
    host: str | None = None  #: machine or engine (``unix:///var/run/docker.sock``)
    context: str | None = None  #: kubeconfig context
    namespace: str | None = None
    project: str | None = None  #: Compose project, Google Cloud project
    region: str | None = None
    service: str | None = None  #: a Cloud Run service

    def as_record(self) -> dict[str, str]:
        """The fields that apply, for an audit record."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def display(self) -> str:
        """``docker (unix:///var/run/docker.sock) project shop``: for headers."""
        fields = self.as_record()
        fields.pop("kind")
        host = fields.pop("host", None)
        text = self.kind + (f" ({host})" if host else "")
        return " ".join([text, *(f"{key} {value}" for key, value in fields.items())])
