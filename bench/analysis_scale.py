"""Cross-verification and scoring at pilot scale: N enterprises x D days of hourly indicators.

Fill (not timed as analysis): a fresh receiver SQLite file gets, per enterprise and day,
hourly ``energy.kwh``, ``machine.on_minutes``, ``machine.cycles`` (2 cavities),
``vision.units_out`` of a line camera (the count the MES-vs-camera rule reads),
``collateral.weight_kg`` and ``collateral.drift_pct``, and daily ``mes.produced_qty``,
``mes.run_min`` and ``erp.shipped_qty`` — 147 indicator records per enterprise-day, in one
signed batch per category per day (as the gateway's batcher sends them). The fill writes
``batches`` / ``records`` rows directly, in the shape ``cloud_stub.ingest`` writes them
(real Ed25519-signed canonical bodies, the same columns and record JSON) but without
going through ingest's verification: ingest throughput is its own bench
(bench/receiver_ingest.py). Days are written day-major across enterprises,
as live ingest interleaves them. About one enterprise in ten gets an injected pattern
(MES inflated 30 % over the last third; collateral weight dropping 40 % with no shipment)
so the rules have something to find.

Timed: ``cloud_stub.analysis.analyse_all`` over every enterprise in a child process (so
its peak RSS is the analysis's alone): total, per enterprise, peak RSS; then, for a sample,
where the time goes (evidence load, each rule, scorecard, store).

    .venv/bin/python bench/analysis_scale.py                    # 1,000 x 90 days (~10 min fill)
    .venv/bin/python bench/analysis_scale.py --smoke            # 20 x 30 days
    .venv/bin/python bench/analysis_scale.py --db /tmp/a.db     # keep / reuse the filled file
    .venv/bin/python bench/analysis_scale.py --store postgresql --enterprises 200
                       # the same on a throwaway PostgreSQL server (tests/support/postgres.py, fsync on)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402

from cloud_stub.db import ReceiverDB, is_postgres_url, open_db  # noqa: E402
from gateway import wire  # noqa: E402

T0 = 1756684800  # 2025-09-01 00:00 UTC
DAY = 86400
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
HOURLY = (("energy", "energy.kwh", "meter-1", "kWh"), ("machine", "machine.on_minutes", "press-1", "min"),
          ("machine", "machine.cycles", "press-1", "count"), ("vision", "vision.units_out", "line-1", "count"),
          ("collateral", "collateral.weight_kg", "pledge-1", "kg"),
          ("collateral", "collateral.drift_pct", "pledge-1", "%"))
DAILY = (("mes", "mes.produced_qty", "product:p1", "count"), ("mes", "mes.run_min", "enterprise", "min"),
         ("erp", "erp.shipped_qty", "enterprise", "units"))


class Plant:
    """One enterprise's factory: deterministic noise, an optional injected pattern, its chain state."""

    def __init__(self, i: int, days: int) -> None:
        self.ent, self.gw = f"ent-{i:04d}", f"gw-{i:04d}"
        self.rng = np.random.default_rng(i)
        self.key = SigningKey(i.to_bytes(4, "big") * 8)
        self.kid = wire.key_id(bytes(self.key.verify_key))
        self.seq, self.prev = 0, wire.GENESIS_PREV
        self.rate = float(self.rng.uniform(60, 140))  # units per running hour
        self.pattern = "inflate" if i % 10 == 3 else "collateral" if i % 20 == 7 else "honest"
        self.days = days

    def day(self, d: int) -> dict[str, list[tuple[int, int, float, dict[str, Any] | None]]]:
        """(start, len, value, detail) per indicator name for day ``d``."""
        rng, start = self.rng, T0 + d * DAY
        hours = np.arange(24)
        on = ((hours >= 6) & (hours < 22)).astype(float) * (rng.random(24) > 0.03)
        units = np.round(on * self.rate * rng.normal(1.0, 0.05, 24))
        kwh = 4.0 + 0.35 * units * rng.normal(1.0, 0.03, 24)
        late = d >= self.days * 2 // 3
        weight = 10_000.0 * (0.6 if self.pattern == "collateral" and late else 1.0)
        produced = float(units.sum()) * rng.normal(1.0, 0.01)
        if self.pattern == "inflate" and late:
            produced *= 1.3
        hs = [start + h * 3600 for h in range(24)]
        kg = np.round(weight + rng.normal(0, 5, 24), 1)
        return {
            "energy.kwh": [(t, 3600, round(float(v), 3), None) for t, v in zip(hs, kwh, strict=True)],
            "machine.on_minutes": [(t, 3600, float(v * 60), {"threshold_kw": 1.0})
                                   for t, v in zip(hs, on, strict=True)],
            "machine.cycles": [(t, 3600, float(np.ceil(v / 2)), {"cavities": 2})
                               for t, v in zip(hs, units, strict=True)],
            "vision.units_out": [(t, 3600, float(v), None) for t, v in zip(hs, units, strict=True)],
            "collateral.weight_kg": [(t, 3600, float(w), None) for t, w in zip(hs, kg, strict=True)],
            "collateral.drift_pct": [(t, 3600, round(float((w - 10_000.0) / 100.0), 3), None)
                                     for t, w in zip(hs, kg, strict=True)],
            "mes.produced_qty": [(start, DAY, float(round(produced)), None)],
            "mes.run_min": [(start, DAY, float(round(on.sum() * 60 * rng.normal(1.0, 0.02))), None)],
            "erp.shipped_qty": [(start, DAY, float(round(produced * rng.normal(1.0, 0.1))), None)],
        }


def _record(cat: str, name: str, subject: str, unit: str, row: tuple[int, int, float, Any]) -> dict[str, Any]:
    rec = {"type": "indicator", "name": name, "category": cat, "subject": subject,
           "window": {"start": row[0], "len": row[1]}, "value": row[2], "unit": unit, "q": [], "def": 1}
    if row[3] is not None:
        rec["detail"] = row[3]
    return rec


def fill(db_path: Path | str, n_ent: int, days: int) -> dict[str, Any]:
    """Write the receiver database; returns counts and the time it took."""
    t0 = time.perf_counter()
    rdb = open_db(db_path) if is_postgres_url(db_path) else ReceiverDB(db_path, synchronous="OFF")
    conn = rdb.conn
    plants = [Plant(i, days) for i in range(n_ent)]
    now = "2025-12-01T00:00:00.000Z"
    conn.execute("BEGIN")
    for p in plants:
        conn.execute("INSERT INTO enterprises (id, created) VALUES (?, ?)", (p.ent, now))
        conn.execute("INSERT INTO gateways (id, enterprise_id, enrolled_at, last_seq, last_hash)"
                     " VALUES (?, ?, ?, 0, ?)", (p.gw, p.ent, now, wire.GENESIS_PREV))
        conn.execute("INSERT INTO gateway_keys (kid, gateway_id, enterprise_id, public_key, enrolled_at)"
                     " VALUES (?, ?, ?, ?, ?)", (p.kid, p.gw, p.ent, wire.b64(bytes(p.key.verify_key)), now))
    conn.execute("COMMIT")
    rec_id = 0
    n_batches = 0
    kinds = {name: (cat, subj, unit) for cat, name, subj, unit in HOURLY + DAILY}
    for d in range(days):
        conn.execute("BEGIN")
        for p in plants:
            by_cat: dict[str, list[dict[str, Any]]] = {}
            for name, rows in p.day(d).items():
                cat, subj, unit = kinds[name]
                by_cat.setdefault(cat, []).extend(_record(cat, name, subj, unit, r) for r in rows)
            created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(T0 + (d + 1) * DAY + 300))
            for records in by_cat.values():
                p.seq += 1
                body = {"v": 1, "gateway": p.gw, "enterprise": p.ent, "kid": p.kid, "seq": p.seq, "prev": p.prev,
                        "boot": 1, "created": created, "clock": {"synced": True, "source": "ntp"},
                        "loss": {"polls_failed": 0, "readings_purged_unsent": 0, "batches_dropped": 0},
                        "records": records}
                batch = wire.sign_body(body, p.key)
                conn.execute(
                    "INSERT INTO batches (hash, gateway_id, enterprise_id, seq, kid, body, sig, record_count,"
                    " rec_pos, received, transport, created, replayed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0)",
                    (batch.hash, p.gw, p.ent, p.seq, p.kid, batch.body, batch.sig, len(records), rec_id, created,
                     "bench-fill", created))
                conn.executemany(
                    "INSERT INTO records (batch_hash, enterprise_id, gateway_id, seq, idx, type, name, category,"
                    " subject, window_start, window_len, value, quality, replayed, record)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)",
                    [(batch.hash, p.ent, p.gw, p.seq, i, "indicator", r["name"], r["category"], r["subject"],
                      r["window"]["start"], r["window"]["len"], r["value"], "[]", _dumps(r))
                     for i, r in enumerate(records)])
                rec_id += len(records)
                p.prev = batch.hash
                n_batches += 1
        for p in plants:
            conn.execute("UPDATE gateways SET last_seq = ?, last_hash = ? WHERE id = ?", (p.seq, p.prev, p.gw))
        conn.execute("COMMIT")
        if d % 10 == 9:
            print(f"  fill: day {d + 1}/{days}, {rec_id:,} records, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    conn.execute("INSERT INTO meta (key, value) VALUES ('bench_fill', ?)",
                 (json.dumps({"enterprises": n_ent, "days": days}),))
    if rdb.dialect == "postgresql":
        conn.execute("ANALYZE")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    else:
        size = Path(db_path).stat().st_size
    rdb.close()
    return {"records": rec_id, "batches": n_batches, "fill_s": round(time.perf_counter() - t0, 1),
            "db_mb": round(size / 2**20)}


def analyse_child(db_path: str, days: int, sample: int) -> dict[str, Any]:
    """The timed part (runs in its own process): analyse_all, then a per-stage profile of a sample."""
    from cloud_stub import analysis
    from cloud_stub.rule_inputs import load_rule_inputs
    from cloud_stub.rules import all_rules
    from cloud_stub.scoring import load_config, score_card

    rdb = open_db(db_path)
    key = SigningKey(b"\x01" * 32)
    as_of = T0 + days * DAY
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    done = analysis.analyse_all(rdb, as_of=as_of, days=days, signing_key=key)
    total = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per = sorted(a.seconds for a in done if a.score_id is not None)
    stage_means = {k: round(1000 * statistics.fmean(a.stages[k] for a in done if a.stages), 1)
                   for k in ("load", "digest", "rules_and_score", "sign_and_store")} if per else {}
    failed = [a.enterprise_id for a in done if a.score_id is None]
    levels: dict[str, int] = {}
    for a in done:
        lvl = a.report.get("warning_level", "failed")
        levels[lvl] = levels.get(lvl, 0) + 1

    rules = all_rules()
    cfg = load_config(None, rules)
    stages: dict[str, list[float]] = {"load_rule_inputs": [], "scorecard": []}
    for a in done[:sample]:
        with rdb.read() as conn:
            t = time.perf_counter()
            ev = load_rule_inputs(conn, a.enterprise_id, as_of - days * DAY, as_of,
                               a.report["inputs"]["max_record_id"], a.report["inputs"]["max_finding_id"])
            stages["load_rule_inputs"].append(time.perf_counter() - t)
        t = time.perf_counter()
        ev.digest()
        stages.setdefault("digest", []).append(time.perf_counter() - t)
        findings = []
        for rid in sorted(rules):
            t = time.perf_counter()
            findings += rules[rid]().evaluate(ev, cfg.params_for(rid, rules[rid].defaults))
            stages.setdefault(f"rule {rid}", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        score_card(cfg, findings, analysis.sufficiency(ev))
        stages["scorecard"].append(time.perf_counter() - t)
    rdb.close()
    return {
        "enterprises": len(done), "failed": failed[:10], "n_failed": len(failed), "total_s": round(total, 2),
        "per_enterprise_ms": {"mean": round(1000 * statistics.fmean(per), 1) if per else None,
                              "p50": round(1000 * per[len(per) // 2], 1) if per else None,
                              "p95": round(1000 * per[int(len(per) * 0.95)], 1) if per else None,
                              "max": round(1000 * per[-1], 1) if per else None},
        "stages_ms_mean": stage_means,
        "peak_rss_mb": round(rss / 1024, 1), "rss_before_mb": round(rss0 / 1024, 1),
        "warning_levels": dict(sorted(levels.items())), "rules": sorted(rules),
        "findings": sum(len(a.report.get("findings", [])) for a in done),
        "profile_ms_mean": {k: round(1000 * statistics.fmean(v), 2) for k, v in stages.items() if v},
        "profile_sample": min(sample, len(done)),
    }


def _run(args: argparse.Namespace, db: str, info: dict[str, Any]) -> None:
    """The timed analysis in a child process, and the report."""
    print(f"analysing ({os.cpu_count()} cores on this machine; analysis runs single-threaded)...",
          file=sys.stderr, flush=True)
    out = subprocess.run([sys.executable, __file__, "--child", db, "--days", str(args.days),
                          "--sample", str(args.sample)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"analysis failed:\n{out.stderr[-4000:]}")
    result = {"enterprises": args.enterprises, "days": args.days, **info, **json.loads(out.stdout.splitlines()[-1])}
    p = result["per_enterprise_ms"]
    print(f"{result['enterprises']} enterprises x {result['days']} days: analyse_all {result['total_s']} s, "
          f"per enterprise mean {p['mean']} ms (p50 {p['p50']}, p95 {p['p95']}, max {p['max']}), "
          f"peak RSS {result['peak_rss_mb']} MB, {result['findings']} findings, levels {result['warning_levels']}")
    print(f"stages in the run (ms, mean per enterprise): {result['stages_ms_mean']}")
    print(f"profile over {result['profile_sample']} enterprises (ms, mean): {result['profile_ms_mean']}")
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--enterprises", type=int, default=1000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--smoke", action="store_true", help="20 enterprises x 30 days")
    ap.add_argument("--db", default=None, help="Keep the filled database here (reused if already filled).")
    ap.add_argument("--sample", type=int, default=20, help="Enterprises profiled stage by stage.")
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                    help="postgresql: a throwaway server started like the tests' (or --db postgresql://...).")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:
        args.enterprises, args.days = 20, 30
    if args.child:
        print(json.dumps(analyse_child(args.child, args.days, args.sample)))
        return
    tmp = None
    server = None
    if args.store == "postgresql" and args.db is None:
        from tests.support.postgres import ThrowawayPostgres

        server = ThrowawayPostgres().start()
        args.db = server.create_database()
    if args.db is not None and is_postgres_url(args.db):
        try:
            rdb = open_db(args.db)
            with rdb.read() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'bench_fill'").fetchone()
            rdb.close()
            if row is not None and json.loads(row[0]) != {"enterprises": args.enterprises, "days": args.days}:
                sys.exit("that database was filled by this bench with other sizes")
            info = {"fill": "reused"} if row is not None else fill(args.db, args.enterprises, args.days)
            _run(args, args.db, {"store": "postgresql", **info})
        finally:
            if server is not None:
                server.stop()
        return
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="analysis-scale-")
        db = Path(tmp.name) / "receiver.db"
    else:
        db = Path(args.db)
    info: dict[str, Any] = {}
    if db.exists():
        rdb = ReceiverDB(db)
        row = rdb.conn.execute("SELECT value FROM meta WHERE key = 'bench_fill'").fetchone()
        rdb.close()
        if row is None or json.loads(row[0]) != {"enterprises": args.enterprises, "days": args.days}:
            sys.exit(f"{db} exists but was not filled by this bench with these sizes; remove it")
        info["fill"] = "reused"
    else:
        print(f"filling {db}: {args.enterprises} enterprises x {args.days} days (direct INSERTs of signed"
              " batches in ingest's shape, not through ingest)", file=sys.stderr, flush=True)
        info.update(fill(db, args.enterprises, args.days))
    _run(args, str(db), info)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
