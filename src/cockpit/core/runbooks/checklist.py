"""Checklist state of a runbook, kept under the state directory.

One JSON file per runbook (by its resolved path) in
``$COCKPIT_STATE_DIR/runbooks/`` (default: platformdirs' ``user_state_path("cockpit")``,
as profiles use): ``{"runbook": PATH, "items": {ID: {"checked": BOOL, "text": TEXT}}}``.
A saved state applies only while the item's text is unchanged, so editing the runbook
never ticks the wrong item. Writes are atomic (temporary file, fsync, rename); an
unreadable state file is ignored (and replaced on the next save).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from platformdirs import user_state_path

from cockpit.core.errors import CockpitError, UsageError
from cockpit.core.runbooks.model import ChecklistItem, Runbook


def default_state_dir() -> Path:
    """``$COCKPIT_STATE_DIR``, else the platform's state directory for ``cockpit``."""
    configured = os.environ.get("COCKPIT_STATE_DIR")
    return Path(configured) if configured else user_state_path("cockpit")


def state_file(runbook_path: Path, state_dir: Path | None = None) -> Path:
    """Where the checklist state of the runbook at ``runbook_path`` lives."""
    resolved = str(Path(runbook_path).resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:16]
    return (state_dir or default_state_dir()) / "runbooks" / f"{Path(resolved).stem}-{digest}.json"


class ChecklistStore:
    """Load, toggle and save the checked state of a runbook's checklist items."""

    def __init__(self, runbook: Runbook, state_dir: Path | None = None) -> None:
        self.runbook = runbook
        self.path = state_file(runbook.path, state_dir)
        self.items = {item.id: item for item in runbook.checklist}
        self.state: dict[str, bool] = {}
        self.problem = ""  #: why the saved state was ignored, if it was
        self.load()

    def load(self) -> dict[str, bool]:
        """The state of every item: saved, else as written in the runbook."""
        saved: dict = {}
        self.problem = ""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            saved = data.get("items", {}) if isinstance(data, dict) else {}
            if not isinstance(saved, dict):
                saved = {}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            self.problem = f"{self.path}: unreadable checklist state ignored ({exc})"
        self.state = {}
        for item_id, item in self.items.items():
            entry = saved.get(item_id)
            if isinstance(entry, dict) and entry.get("text") == item.text:
                self.state[item_id] = bool(entry.get("checked"))
            else:
                self.state[item_id] = item.checked
        return dict(self.state)

    def item(self, item_id: str) -> ChecklistItem:
        if item_id not in self.items:
            known = ", ".join(self.items) or "none"
            raise UsageError(f"{self.runbook.path}: no checklist item {item_id!r} (items: {known})")
        return self.items[item_id]

    def is_checked(self, item_id: str) -> bool:
        self.item(item_id)
        return self.state[item_id]

    def set(self, item_id: str, checked: bool) -> None:
        """Set one item and save."""
        self.item(item_id)
        self.state[item_id] = checked
        self.save()

    def toggle(self, item_id: str) -> bool:
        """Flip one item, save, and return its new state."""
        checked = not self.is_checked(item_id)
        self.set(item_id, checked)
        return checked

    def progress(self) -> tuple[int, int]:
        """(checked, total)."""
        return sum(self.state.values()), len(self.state)

    def save(self) -> None:
        """Write the state atomically."""
        payload = {
            "runbook": str(self.runbook.path.resolve()),
            "items": {
                item_id: {"checked": self.state[item_id], "text": item.text}
                for item_id, item in self.items.items()
            },
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".checklist-", dir=self.path.parent)
        except OSError as exc:
            raise CockpitError(
                f"cannot save the checklist state in {self.path.parent}: {exc}"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, indent=2, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise CockpitError(f"cannot save the checklist state to {self.path}: {exc}") from None
