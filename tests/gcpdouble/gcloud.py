"""Run the real gcloud against a double: ``run_gcloud(double, "run", "services", "describe", ...)``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.gcpdouble.double import GcpDouble

GCLOUD = shutil.which("gcloud") or "/usr/bin/gcloud"


def gcloud_env(double: GcpDouble, folder: str | Path | None = None) -> dict[str, str]:
    """This process's environment without Google settings, plus the double's exports."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("CLOUDSDK_", "GOOGLE_", "GCE_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"))}
    base.update(double.env(folder))
    return base


def run_gcloud(double: GcpDouble, *args: str, folder: str | Path | None = None, timeout: float = 60,
               check: bool = True) -> subprocess.CompletedProcess[str]:
    """``gcloud ARGS`` with the double's exports; fails (with gcloud's stderr) unless it exits 0."""
    out = subprocess.run([GCLOUD, *args], env=gcloud_env(double, folder), capture_output=True, text=True,
                         timeout=timeout, check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"gcloud {' '.join(args)} exited {out.returncode}:\n{out.stderr}")
    return out
