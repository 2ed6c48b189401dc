"""``python -m tests.kubedouble --seed meta-salvage [--dir DIR]``: a cluster to try the cockpit on.

Starts two seeded doubles (contexts salvage-eu, current, and salvage-us), the runbook's
HTTP services, writes a kubeconfig naming both contexts and prints the lines to paste.
Stays up until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from tests.kubedouble.double import KubeDouble
from tests.kubedouble.kubeconfig import write_fleet_kubeconfig
from tests.kubedouble.seed import NS, seed_meta_salvage, seed_salvage_us
from tests.kubedouble.services import ServicesDouble

SEEDS = ("meta-salvage",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kubedouble", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", choices=SEEDS, default="meta-salvage")
    parser.add_argument("--dir", type=Path, help="where to write the kubeconfig (default: a new temp folder)")
    parser.add_argument("--crash-every", type=float, default=30.0, help="seconds between two crashes of the crash-looping pod")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="kubedouble-"))
    folder.mkdir(parents=True, exist_ok=True)
    eu, us, services = KubeDouble("salvage-eu"), KubeDouble("salvage-us"), ServicesDouble()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        eu.start()
        us.start()
        services.start()
        seed_meta_salvage(eu, crash_every=args.crash_every)
        seed_salvage_us(us)
        kubeconfig = write_fleet_kubeconfig(
            folder / "kubeconfig", {"salvage-eu": (eu, NS), "salvage-us": (us, NS)}, current="salvage-eu"
        )
        lines = [
            f"export KUBECONFIG={kubeconfig}",
            f"export METASALVAGE_API={services.api_url}",
            f"export PROMETHEUS_URL={services.prometheus_url}",
        ]
        (folder / "env.sh").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        print(
            f"# contexts salvage-eu ({eu.url}) and salvage-us ({us.url}); "
            f"push QEK below 0.85: curl -XPOST {services.api_url}/fault/qek; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        services.stop()
        us.stop()
        eu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
