"""Detection bench: error rates of the rules on generated plants (issue 11, part 8).

Every plant is a realistic generated history (``edgeproof replay generate --plant realistic``,
gateway/replay/scenarios.py) with its own seed; fraud plants carry one pattern at one size
from a known onset. Each goes the real way: the replay identity is enrolled with a receiver
(in this process, on loopback, its own SQLite file), ``edgeproof replay``'s code replays the
folder (store, indicator engine, consent, signing, HTTP uplink), the receiver verifies and
stores, and the analysis (the registered rules and the shipped scorecard, as ``cloud
analyse`` runs them) is built as of the end of each day from the onset on, until the pattern
is detected at its required severity or its deadline has passed.

It prints a table and one JSON line (prefixed "JSON "):

* honest plants with a finding above yellow (target 0), with a red finding (target 0), and
  which rules raised them;
* per pattern and size: detected at the required severity within the deadline (target >= 95 %
  for sizes at or above the pattern's material size), median days from onset to detection,
  the severities reached at the end of the history.

    .venv/bin/python bench/detection.py --quick          # 10 honest + 4 per pattern (~6 min)
    .venv/bin/python bench/detection.py                  # 50 honest + 20 per pattern (~30 min)
    .venv/bin/python bench/detection.py --json-out /tmp/det.json --write-docs
    .venv/bin/python bench/detection.py --render /tmp/det.json --write-docs   # tables from a saved run

``--write-docs`` replaces the generated table between the ``detection-table`` markers in
docs/benchmarks.md and docs/cross-verification.md: a threshold or weight changes only
together with a new table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("info", "yellow", "orange", "red")
DAY = 86400
DOCS = (ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "cross-verification.md")
BEGIN, END = "<!-- detection-table:begin (bench/detection.py --write-docs) -->", "<!-- detection-table:end -->"


@dataclass(frozen=True)
class Pattern:
    """A fraud pattern, the sizes the bench injects, and what counts as detecting it."""

    sizes: tuple[float, ...]
    severity: str  # required severity ...
    within_days: int  # ... reached within this many days after the onset day (0 = the onset day)
    subscores: tuple[str, ...]  # findings in these sub-scores count as detecting it
    material: float  # sizes at or above this one must meet the target
    onset_day: int = 21


PATTERNS: dict[str, Pattern] = {
    "inflated": Pattern((0.10, 0.15, 0.30), "orange", 7, ("production_authenticity",), 0.15),
    "drift": Pattern((0.01, 0.02), "orange", 10, ("production_authenticity",), 0.01),
    "phantom_shipments": Pattern((0.3, 0.5, 1.0), "red", 10, ("production_authenticity",), 0.3),
    "idle_claims": Pattern((1.0, 0.7), "red", 3, ("production_authenticity",), 0.7),
    "collateral_removed": Pattern((0.05, 0.30), "red", 0, ("collateral_safety",), 0.05),
    "collateral_steps": Pattern((0.10, 0.25), "red", 5, ("collateral_safety",), 0.10),
    "offline": Pattern((2.0, 4.0), "yellow", 2, ("data_integrity",), 2.0),
}
# Rules whose findings over an outage would read it as a stopped plant.
STOPPED_RULES = ("changepoints", "machine_time_vs_mes")


def plant_start(seed: int) -> date:
    """A Monday between March and July 2026 (the profile's holidays are in October): the
    baseline and the detection window are ordinary working weeks, the start differs by seed."""
    return date(2026, 3, 2) + timedelta(weeks=seed % 18)


def severity_at_least(sev: str, required: str) -> bool:
    return ORDER.index(sev) >= ORDER.index(required)


def run_plant(job: dict[str, Any]) -> dict[str, Any]:
    """One plant: generate, replay into a fresh receiver, analyse day by day; its result row."""
    from cloud_stub import receiver_key
    from cloud_stub.analysis import _bounds, build_report
    from cloud_stub.db import ReceiverDB
    from cloud_stub.enrollment import issue_token
    from cloud_stub.http_api import create_app
    from cloud_stub.rule_inputs import load_rule_inputs
    from cloud_stub.rules import all_rules
    from cloud_stub.scoring import load_config
    from cloud_stub.server import Running
    from gateway.identity import enroll, init_identity
    from gateway.indicators.windows import parse_duration
    from gateway.logs import setup_logging
    from gateway.profile import load_profile
    from gateway.replay.scenarios import ScenarioConfig, write_scenario
    from gateway.replay.session import replay

    setup_logging("ERROR")
    pattern, seed, size, days = job["pattern"], job["seed"], job["size"], job["days"]
    pat = PATTERNS.get(pattern)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="detection-") as tmp:
        work = Path(tmp)
        cfg = ScenarioConfig(scenario=pattern, days=days, seed=seed, interval_s=job["interval_s"], plant="realistic",
                             start=plant_start(seed), size=size, onset_day=pat.onset_day if pat else None)
        meta = write_scenario(cfg, work / "data")
        rdb = ReceiverDB(work / "receiver.db")
        running = Running(create_app(rdb, receiver_key.load_or_create(work / "receiver.key")))
        try:
            prof = load_profile("sim-history")
            ent = f"ent-{pattern.replace('_', '-')}-{seed}"
            init_identity(work / "state", f"{prof.site.id}-history", prof.site.id)
            enroll(work / "state", running.url, issue_token(rdb, ent)["token"])
            summary = asyncio.run(replay(prof, work / "data", work / "state", running.url, None, None,
                                         parse_duration("1d")))
            t_replay = time.perf_counter() - t0
            rules = all_rules()
            table = load_config(None, rules)
            tz = ZoneInfo(meta["timezone"])
            first = date.fromisoformat(meta["start"])

            def report(upto: date) -> dict[str, Any]:
                """The analysis as of the end of local day ``upto``, over the whole history so far."""
                end = upto + timedelta(days=1)
                as_of = int(datetime(end.year, end.month, end.day, tzinfo=tz).timestamp())
                with rdb.read() as conn:
                    rid, fid = _bounds(conn, ent)
                    ev = load_rule_inputs(conn, ent, as_of - (end - first).days * DAY, as_of, rid, fid)
                return build_report(ev, table, rules, as_of)

            last = date.fromisoformat(meta["end"])
            row: dict[str, Any] = {"pattern": pattern, "seed": seed, "size": meta["ground_truth"]["size"],
                                   "days": days, "replay_accepted": summary["accepted"] == summary["batches"]}
            final = report(last)
            row["warning_level"] = final["warning_level"]
            row["grade"] = final["grade"]
            row["findings"] = sorted({(f["rule"], f["severity"]) for f in final["findings"]
                                      if f["severity"] != "info"})
            if pat is None:
                sevs = [f["severity"] for f in final["findings"]]
                row["max_severity"] = max(sevs, key=ORDER.index) if sevs else None
            else:
                gt = meta["ground_truth"]
                onset = date.fromisoformat(gt["onset_date"])
                row.update(detect(pat, gt, meta, final, report, onset, last))
        finally:
            running.stop()
            rdb.close()
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["replay_seconds"] = round(t_replay, 1)
    return row


def relevant(pat: Pattern, gt: dict[str, Any], f: dict[str, Any]) -> bool:
    """A finding about the pattern: in one of its sub-scores, about data from the onset on."""
    return f["subscore"] in pat.subscores and f["window"]["end"] > gt["onset_ts"]


def detect(pat: Pattern, gt: dict[str, Any], meta: dict[str, Any], final: dict[str, Any], report: Any,
           onset: date, last: date) -> dict[str, Any]:
    """Days from onset to the first analysis with a relevant finding at the required severity."""
    out: dict[str, Any] = {}
    sevs = [f["severity"] for f in final["findings"] if relevant(pat, gt, f)]
    out["severity_reached"] = max(sevs, key=ORDER.index) if sevs else None
    out["detected_days"] = None

    def hit(k: int) -> bool:
        rep = final if onset + timedelta(days=k) == last else report(onset + timedelta(days=k))
        return any(relevant(pat, gt, f) and severity_at_least(f["severity"], pat.severity) for f in rep["findings"])

    deadline = min(pat.within_days, (last - onset).days)
    # At the deadline first: a miss costs one analysis; a hit is then dated day by day from the onset.
    if hit(deadline):
        out["detected_days"] = next((k for k in range(deadline) if hit(k)), deadline)
    out["detected"] = out["detected_days"] is not None
    if meta.get("offline"):
        lo, hi = meta["offline"]["from"], meta["offline"]["to"]
        out["read_as_stopped"] = any(
            f["rule"] in STOPPED_RULES and f["severity"] != "info" and f["window"]["start"] < hi
            and f["window"]["end"] > lo for f in final["findings"])
        out["detected"] = out["detected"] and not out["read_as_stopped"]
    return out


def jobs(honest: int, per_pattern: int, days: int, interval_s: int, only: list[str] | None,
         first: int = 0) -> list[dict[str, Any]]:
    """The plants: honest seeds 1000+i, pattern seeds 2000+100*pattern+i, sizes in turn; ``first``
    skips the first plants of each kind (to extend a saved run with ``--merge``)."""
    out = [{"pattern": "honest", "seed": 1000 + i, "size": None, "days": days, "interval_s": interval_s}
           for i in range(first, first + honest)] if not only or "honest" in only else []
    for name, pat in PATTERNS.items():
        if only and name not in only:
            continue
        for i in range(first, first + per_pattern):
            out.append({"pattern": name, "seed": 2000 + 100 * list(PATTERNS).index(name) + i,
                        "size": pat.sizes[i % len(pat.sizes)], "days": days, "interval_s": interval_s})
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    honest = [r for r in rows if r["pattern"] == "honest"]
    above = [r for r in honest if any(ORDER.index(s) > 1 for _, s in r["findings"])]
    red = [r for r in honest if any(s == "red" for _, s in r["findings"])]
    rules: dict[str, int] = {}
    for r in above:
        for rule, s in r["findings"]:
            if ORDER.index(s) > 1:
                rules[rule] = rules.get(rule, 0) + 1
    out: dict[str, Any] = {"honest": {"plants": len(honest), "above_yellow": len(above), "with_red": len(red),
                                      "warning_above_yellow": sum(1 for r in honest if r["warning_level"]
                                                                  in ("orange", "red")),
                                      "rules_above_yellow": dict(sorted(rules.items())),
                                      "seeds_above_yellow": [r["seed"] for r in above]},
                           "patterns": {}}
    for name, pat in PATTERNS.items():
        mine = [r for r in rows if r["pattern"] == name]
        if not mine:
            continue
        per_size = {}
        for size in sorted({r["size"] for r in mine}):
            rs = [r for r in mine if r["size"] == size]
            per_size[f"{size:g}"] = _rates(rs)
        material = [r for r in mine if r["size"] >= pat.material - 1e-9]
        out["patterns"][name] = {"required": f"{pat.severity} within {pat.within_days} d",
                                 "material_size": pat.material, **_rates(material), "by_size": per_size}
    return out


def _rates(rs: list[dict[str, Any]]) -> dict[str, Any]:
    hit = [r for r in rs if r["detected"]]
    sevs: dict[str, int] = {}
    for r in rs:
        sevs[r["severity_reached"] or "none"] = sevs.get(r["severity_reached"] or "none", 0) + 1
    out = {"plants": len(rs), "detected": len(hit), "rate_pct": round(100 * len(hit) / len(rs), 1) if rs else None,
           "median_days": statistics.median(r["detected_days"] for r in hit) if hit else None,
           "severity_reached": dict(sorted(sevs.items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else -1)),
           "missed_seeds": [r["seed"] for r in rs if not r["detected"]]}
    if any("read_as_stopped" in r for r in rs):
        out["read_as_stopped"] = sum(1 for r in rs if r.get("read_as_stopped"))
    return out


def table(result: dict[str, Any]) -> str:
    """The markdown table docs/benchmarks.md and docs/cross-verification.md carry."""
    s, run = result["summary"], result["run"]
    h = s["honest"]
    rules_above = ", ".join(f"{k} ×{v}" for k, v in h["rules_above_yellow"].items())
    lines = [f"Run: {run['plants']} plants ({h['plants']} honest), {run['days']} days each at "
             f"{run['interval_s']} s, seeds as in bench/detection.py, {run['wall_s']:.0f} s wall with "
             f"{run['processes']} processes ({run['mode']}; {run['date']}).", "",
             "| honest plants | above yellow | with a red finding | warning orange/red | rules above yellow |",
             "|---|---|---|---|---|",
             f"| {h['plants']} | {h['above_yellow']} (target 0) | {h['with_red']} (target 0) | "
             f"{h['warning_above_yellow']} | {rules_above or '—'} |", "",
             "| pattern | required | sizes (plants) | detected (material sizes) | median days | severity reached |",
             "|---|---|---|---|---|---|"]
    for name, p in s["patterns"].items():
        sizes = ", ".join(f"{k}: {v['detected']}/{v['plants']}" for k, v in p["by_size"].items())
        reached = ", ".join(f"{k} {v}" for k, v in p["severity_reached"].items())
        stopped = f"; read as stopped {p['read_as_stopped']}" if "read_as_stopped" in p else ""
        lines.append(f"| {name} | {p['required']} | {sizes} | {p['detected']}/{p['plants']} = {p['rate_pct']} % "
                     f"(target ≥ 95 %){stopped} | {p['median_days']} | {reached} |")
    return "\n".join(lines)


def write_docs(result: dict[str, Any]) -> None:
    body = table(result)
    for path in DOCS:
        text = path.read_text()
        if BEGIN not in text or END not in text:
            raise SystemExit(f"{path}: no {BEGIN} ... {END} markers to replace")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
        print(f"wrote the detection table into {path.relative_to(ROOT)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 honest plants + 4 per pattern")
    ap.add_argument("--honest", type=int, default=None, help="honest plants (default 50, quick 10)")
    ap.add_argument("--per-pattern", type=int, default=None, help="plants per pattern (default 20, quick 4)")
    ap.add_argument("--only", nargs="+", choices=["honest", *PATTERNS], help="just these patterns")
    ap.add_argument("--days", type=int, default=35, help="history length (baseline 21 days + detection window)")
    ap.add_argument("--interval", type=int, default=900, help="device sampling interval, seconds")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--first", type=int, default=0, help="skip the first N plants of each kind (with --merge)")
    ap.add_argument("--merge", type=Path, help="add this run's plants to a saved result (same days and interval)")
    ap.add_argument("--json-out", type=Path, help="also write the full result (rows included) here")
    ap.add_argument("--render", type=Path, help="no run: print (and --write-docs) the tables of a saved result")
    ap.add_argument("--write-docs", action="store_true", help="replace the generated tables in the docs")
    args = ap.parse_args()
    if args.render:
        result = json.loads(args.render.read_text())
    else:
        honest = args.honest if args.honest is not None else (10 if args.quick else 50)
        per = args.per_pattern if args.per_pattern is not None else (4 if args.quick else 20)
        todo = jobs(honest, per, args.days, args.interval, args.only, args.first)
        t0 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.processes, maxtasksperchild=8) as pool:
            for n, row in enumerate(pool.imap_unordered(run_plant, todo), start=1):
                rows.append(row)
                print(f"[{n}/{len(todo)}] {row['pattern']} seed {row['seed']} size {row['size']}: "
                      f"{row.get('detected_days', row.get('max_severity'))} {row['findings']} {row['seconds']} s",
                      file=sys.stderr, flush=True)
        wall = time.perf_counter() - t0
        mode = "quick" if args.quick else "full" if (honest, per) == (50, 20) else \
            f"partial: {honest} honest + {per} per pattern"
        if args.merge:
            saved = json.loads(args.merge.read_text())
            if (saved["run"]["days"], saved["run"]["interval_s"]) != (args.days, args.interval):
                raise SystemExit(f"{args.merge}: run.days/interval_s {saved['run']['days']}/"
                                 f"{saved['run']['interval_s']} differ from this run's {args.days}/{args.interval}")
            have = {(r["pattern"], r["seed"]) for r in rows}
            rows += [r for r in saved["rows"] if (r["pattern"], r["seed"]) not in have]
            wall += saved["run"]["wall_s"]
            n_h = sum(1 for r in rows if r["pattern"] == "honest")
            mode = f"merged runs: {n_h} honest + {(len(rows) - n_h) // len(PATTERNS)} per pattern"
        rows.sort(key=lambda r: (r["pattern"], r["seed"]))
        result = {"run": {"plants": len(rows), "days": args.days, "interval_s": args.interval,
                          "processes": args.processes, "wall_s": round(wall, 1),
                          "plant_s_median": statistics.median(r["seconds"] for r in rows) if rows else None,
                          "mode": mode, "date": date.today().isoformat(),
                          "load_avg": os.getloadavg()[0]},
                  "summary": summarise(rows), "rows": rows}
        if args.json_out:
            args.json_out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(table(result))
    print("JSON " + json.dumps({"run": result["run"], "summary": result["summary"]}, ensure_ascii=False))
    if args.write_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
