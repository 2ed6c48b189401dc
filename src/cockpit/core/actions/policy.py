"""Who may run what: read-only profiles and confirmation of dangerous actions."""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit.core.config.models import Action


@dataclass(frozen=True)
class Decision:
    """ALLOW or DENY with machine-readable reason codes and a sentence for the user."""

    allowed: bool
    reason_codes: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def label(self) -> str:
        return "ALLOW" if self.allowed else "DENY"


def needs_confirmation(action: Action) -> bool:
    """Dangerous actions need an explicit yes (a prompt, a typed id, or ``--yes``)."""
    return action.danger == "dangerous"


def decide(action: Action, *, read_only: bool, confirmed: bool) -> Decision:
    """Apply the policy to one attempt."""
    if read_only and action.danger != "safe":
        return Decision(
            False,
            ["READ_ONLY"],
            f"{action.id} is {action.danger}; the profile is read-only, only safe actions run",
        )
    if needs_confirmation(action) and not confirmed:
        return Decision(False, ["NOT_CONFIRMED"], f"{action.id} is dangerous and was not confirmed")
    return Decision(True)
