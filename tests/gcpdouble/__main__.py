"""``python -m tests.gcpdouble --seed tai-erlang [--dir DIR]``: Google Cloud to try the cockpit on.

Starts a seeded double, writes its files (token file, gcloud config, a service-account key)
to DIR, prints the ``export`` lines for gcloud and the cockpit (also in DIR/env.sh) and
serves until killed (SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path

from tests.gcpdouble.double import GcpDouble
from tests.gcpdouble.seed import PROJECT, SEEDS, seed_tai_erlang


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.gcpdouble", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", choices=SEEDS, default="tai-erlang")
    parser.add_argument("--dir", type=Path, help="where to write its files (default: a new temp folder)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--tick", type=float, default=2.0, help="seconds between two rounds of app logs (0: none)")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="gcpdouble-"))
    folder.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    double = GcpDouble(PROJECT)
    try:
        double.start(args.port)
        seed_tai_erlang(double, tick=args.tick or None)
        env = double.env(folder)
        key = double.write_service_account_key(folder / "service-account.json")
        lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
        (folder / "env.sh").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        print(
            f"# gcp double on {double.url} (project {PROJECT}; regions us-central1, europe-west1); "
            f"a key for ADC: GOOGLE_APPLICATION_CREDENTIALS={key}; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
