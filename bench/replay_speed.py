"""Replay speed: days of recorded history per second through `edgeproof replay`'s real path.

Generates an honest sim-history scenario (``gateway.replay.scenarios``, 8 devices at a
5-minute cadence plus MES/ERP exports), starts a receiver in its own process (as in real
life: its CPU is not counted here), enrolls a history identity, and replays the folder
with the default packing (``--pack-every 1d``): store, indicator engine under the simulated
clock, consent and privacy, signing and HTTP uplink to the receiver. Prints days/s (wall),
the replaying process's CPU seconds and peak RSS, and the batches accepted.

    .venv/bin/python bench/replay_speed.py                 # 90 days
    .venv/bin/python bench/replay_speed.py --days 35 --pack-every 1h

Prints a table and one JSON line (prefixed "JSON ").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ENTERPRISE = "ent-bench"


def start_receiver(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = workdir / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "cloud_stub", "serve", "--db", str(workdir / "receiver.db"),
                             "--port", "0", "--ready-file", str(ready)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not ready.exists():
        if time.time() > deadline or proc.poll() is not None:
            raise SystemExit("receiver did not start")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())["url"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--pack-every", default="1d")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2026-05-04", help="first day of the generated history")
    args = ap.parse_args()

    from gateway.identity import enroll, init_identity
    from gateway.indicators.windows import parse_duration
    from gateway.logs import setup_logging
    from gateway.profile import load_profile
    from gateway.replay.scenarios import ScenarioConfig, write_scenario
    from gateway.replay.session import replay

    setup_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        write_scenario(ScenarioConfig(scenario="honest", days=args.days, seed=args.seed,
                                      start=date.fromisoformat(args.start)), work / "data")
        gen_s = time.perf_counter() - t0
        proc, url = start_receiver(work)
        try:
            token = subprocess.run([sys.executable, "-m", "cloud_stub", "token", "--db", str(work / "receiver.db"),
                                    "--enterprise", ENTERPRISE], capture_output=True, text=True,
                                   check=True).stdout.strip()
            prof = load_profile("sim-history")
            state = work / "history"
            init_identity(state, f"{prof.site.id}-history", prof.site.id)
            enroll(state, url, token)
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            summary = asyncio.run(replay(prof, work / "data", state, url, None, None,
                                         parse_duration(args.pack_every)))
            wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
        finally:
            proc.terminate()
            proc.wait(10)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"days": args.days, "pack_every": args.pack_every, "generate_s": round(gen_s, 1),
           "wall_s": round(wall, 1), "days_per_s": round(args.days / wall, 2), "cpu_s": round(cpu, 1),
           "days_per_cpu_s": round(args.days / cpu, 2), "peak_rss_mb": round(rss_mb, 1),
           "readings": summary["readings"], "indicators": summary["indicators"], "batches": summary["batches"],
           "accepted": summary["accepted"]}
    print(f"replay of {args.days} days (pack every {args.pack_every}): {out['wall_s']} s wall "
          f"= {out['days_per_s']} days/s; replay CPU {out['cpu_s']} s = {out['days_per_cpu_s']} days/CPU-s; "
          f"peak RSS {out['peak_rss_mb']} MB")
    print(f"  {out['readings']} readings, {out['indicators']} indicators, {out['batches']} batches "
          f"({out['accepted']} accepted); scenario generated in {out['generate_s']} s")
    print("JSON " + json.dumps(out))


if __name__ == "__main__":
    main()
