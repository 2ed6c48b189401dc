"""Who may run what, and what the operator must say first: one decision per attempt.

``decide`` is the only policy. For an action (its danger level) under a profile
(read-only or not) it returns

* DENY ``READ_ONLY``: the profile is read-only and the action is not safe;
* ALLOW with the confirmation still needed from the operator:

  - ``none``: a safe action runs without asking;
  - ``yes``: a caution action asks a yes/no question, No (Cancel) the default;
  - ``type``: a dangerous action runs only once its id is typed (a runbook step's id for
    a step), ``Decision.text_to_type``.

``ActionRunner.run`` decides once and asks the caller's confirm callback only when the
decision says so; a confirmation not given is the DENY ``not_confirmed`` builds
(``NOT_CONFIRMED``). The TUI, ``cockpit run``, ``cockpit runbook run`` and a runbook in
the TUI therefore ask the same question for the same action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cockpit.core.config.models import Action

Confirmation = Literal["none", "yes", "type"]

#: The confirmation each danger level needs.
CONFIRMATION: dict[str, Confirmation] = {"safe": "none", "caution": "yes", "dangerous": "type"}


@dataclass(frozen=True)
class Decision:
    """ALLOW or DENY with machine-readable reason codes and a sentence for the user.

    An ALLOW says which confirmation the operator still has to give (``confirmation``)
    and, for ``type``, the exact text to type (``text_to_type``).
    """

    allowed: bool
    reason_codes: list[str] = field(default_factory=list)
    message: str = ""
    confirmation: Confirmation = "none"
    text_to_type: str | None = None

    @property
    def label(self) -> str:
        return "ALLOW" if self.allowed else "DENY"


def decide(action: Action, *, read_only: bool, step_id: str | None = None) -> Decision:
    """The policy for one attempt of ``action``; ``step_id``: the runbook step it runs
    (what a dangerous step's confirmation asks to type instead of the action id)."""
    if read_only and action.danger != "safe":
        return Decision(
            False,
            ["READ_ONLY"],
            f"{action.id} is {action.danger}; the profile is read-only, only safe actions run",
        )
    needed = CONFIRMATION[action.danger]
    return Decision(True, confirmation=needed,
                    text_to_type=(step_id or action.id) if needed == "type" else None)


def not_confirmed(action: Action) -> Decision:
    """The DENY of an attempt whose confirmation was declined or could not be asked."""
    return Decision(
        False, ["NOT_CONFIRMED"], f"{action.id} is {action.danger} and was not confirmed"
    )
