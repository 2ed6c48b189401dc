"""``unrecognized_fields(docs)``: the fields of the double's replies that the real API's own
message definitions (gcloud's generated apitools classes) do not know. See drift_check.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("drift_check.py")


def unrecognized_fields(docs: list[dict[str, Any]]) -> list[str]:
    """``docs``: [{"api": "run/v2", "message": "GoogleCloudRunV2Service", "body": {...}, "what": "..."}]."""
    out = subprocess.run([sys.executable, "-I", str(SCRIPT)], input=json.dumps(docs), capture_output=True,
                         text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"drift check failed:\n{out.stderr}")
    return json.loads(out.stdout)
