"""Run the real kubectl against a double (tests and cross-checks)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def kubectl(
    kubeconfig: str | os.PathLike[str], *args: str, timeout: float = 30, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``kubectl --kubeconfig K ARGS`` with a timeout, output captured as text."""
    cache = Path(kubeconfig).parent / "kube-cache"
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result
