"""Run the benchmark scripts one after another (``make bench``), each as its own process.

The quick ones run by default (roughly 10 minutes by the times in bench/README.md); ``--all`` adds the pilot-scale
analysis (~20 minutes) and the detection bench (~100 minutes), ``--only NAME ...`` picks scripts. Each prints its
own figures and JSON line; this runner adds nothing but the order and a summary of exit codes. Figures are
recorded by hand in docs/benchmarks.md, with the host's load noted, not written by this script.

    .venv/bin/python bench/run_all.py [--all] [--only gateway_poll feed_verify ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = ["gateway_poll", "store_ingest", "receiver_ingest", "receiver_concurrency", "feed_verify", "replay_speed",
         "modbus_rtu_cycle", "vision_bench", "store_move", "alert_delivery"]
LONG = ["analysis_scale", "detection", "bandwidth"]  # detection: the full calibration run (~100 min on 2 busy cores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="also the pilot-scale analysis")
    ap.add_argument("--only", nargs="+", choices=QUICK + LONG, help="run just these")
    args = ap.parse_args()
    names = args.only or (QUICK + LONG if args.all else QUICK)
    results = []
    for name in names:
        print(f"\n=== bench/{name}.py", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, str(HERE / f"{name}.py")]).returncode
        results.append((name, rc, time.perf_counter() - t0))
    print("\n=== summary")
    for name, rc, seconds in results:
        print(f"{name:<22} {'ok' if rc == 0 else f'exit {rc}':<8} {seconds:7.1f} s")
    sys.exit(0 if all(rc == 0 for _, rc, _ in results) else 1)


if __name__ == "__main__":
    main()
