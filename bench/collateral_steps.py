"""Collateral step detector: false steps on honest stacks, and removals found, by size.

    .venv/bin/python bench/collateral_steps.py [--honest 10] [--days 90] [--every 30] [--seeds 5]

Honest stacks: 100 t pledged, 20 kg reading noise, random-walk drift 0.05 %/day, daily
swing 0.02 %, ~1.5 forklifts (3 t, 2-20 min) and a person every other day
(drivers/sim/load_cell.py), read every ``--every`` seconds for ``--days``, run through
gateway/indicators/load_steps.py with the profile defaults (hold 1 h, 8 x noise, 1 % of the
pledge). Removals: one lot of each size at 10:00 on day 5 of a 10-day history; found = one
held step within 5 % of the lot; red = collateral_changes v2 would be red (>= 2 % of the
pledge) the same day.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.sim.load_cell import LoadCellSignal, honest_transients  # noqa: E402
from gateway.indicators.load_steps import StepParams, detect, noise_sd, threshold_kg  # noqa: E402

DAY0 = 1788192000.0  # local midnight at UTC+8
PLEDGED = 100_000.0


def run(sig: LoadCellSignal, days: int, every: float) -> tuple[list, list, float]:
    pts = sig.readings(DAY0, DAY0 + days * 86400, every)
    p = StepParams()
    thr = threshold_kg(noise_sd(pts[:2880]), PLEDGED, p)
    steps, trans, _ = detect(pts, thr, p)
    return steps, trans, thr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--honest", type=int, default=10)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    honest = []
    for seed in range(a.honest):
        sig = LoadCellSignal(pledged_kg=PLEDGED, start=DAY0, days=a.days, seed=seed,
                             transients=honest_transients(DAY0, a.days, seed=seed))
        steps, trans, thr = run(sig, a.days, a.every)
        honest.append({"seed": seed, "false_steps": len(steps), "transients": len(trans),
                       "forklifts": sum(1 for x in sig.transients if x[2] > 1000), "threshold_kg": round(thr, 1),
                       "max_drift_pct": round(max(abs(sig.drift_kg(DAY0 + h * 3600)) for h in range(a.days * 24))
                                              / PLEDGED * 100, 3)})
    removals = {}
    for pct in (0.5, 1.0, 1.5, 2.0, 3.0, 5.0):
        found = red = 0
        for seed in range(a.seeds):
            at = DAY0 + 5 * 86400 + 10 * 3600
            sig = LoadCellSignal(pledged_kg=PLEDGED, start=DAY0, days=10, seed=100 + seed,
                                 transients=honest_transients(DAY0, 10, seed=100 + seed),
                                 removals=((at, pct / 100 * PLEDGED),))
            steps, _, _ = run(sig, 10, a.every)
            hit = [s for s in steps if s.kg < 0 and abs(-s.kg - pct / 100 * PLEDGED) <= 0.05 * pct / 100 * PLEDGED]
            found += bool(hit)
            red += bool(hit) and -hit[0].kg >= 0.02 * PLEDGED and hit[0].confirmed < DAY0 + 6 * 86400
        removals[f"{pct}%"] = {"found": f"{found}/{a.seeds}", "red_same_day": f"{red}/{a.seeds}"}
    out = {"honest": {"stacks": a.honest, "days": a.days, "every_s": a.every,
                      "false_steps": sum(h["false_steps"] for h in honest),
                      "transients": sum(h["transients"] for h in honest),
                      "forklifts": sum(h["forklifts"] for h in honest),
                      "max_drift_pct": max(h["max_drift_pct"] for h in honest)},
           "removals": removals, "seconds": round(time.perf_counter() - t0, 1)}
    if a.json:
        print(json.dumps(out, indent=2))
        return
    h = out["honest"]
    print(f"honest: {h['stacks']} stacks x {h['days']} days at {h['every_s']} s: {h['false_steps']} false steps, "
          f"{h['transients']} transients for {h['forklifts']} forklift visits, largest drift {h['max_drift_pct']} %")
    for k, v in removals.items():
        print(f"removal {k:>5}: held step found {v['found']}, red the same day {v['red_same_day']}")
    print(f"({out['seconds']} s)")


if __name__ == "__main__":
    main()
