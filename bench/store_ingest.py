"""Store ingest rate: readings/s committed through Store.add_readings, batched as the scheduler's writer does.

The scheduler's ReadingWriter buffers readings (plus one `polls` row per device poll) for
``store.flush_interval_s`` (0.25 s) and commits them in one transaction via
``Store.add_readings(rows, polls)``. This bench calls that method directly, from one thread,
with batches of the sizes that cadence produces (10 devices x 20 points, 0.25 s flush):
  50 rows + 2-3 polls    1 s polls with the devices' ticks spread out (worst case: 4 commits per cycle)
  200 rows + 10 polls    1 s polls as the scheduler runs them (all devices start together: 1 commit per cycle)
  500 rows + 25 polls    100 ms polls
  5000 rows + 250 polls  a 10x bigger site, or a 2.5 s backlog after a stall
once per ``synchronous`` setting (FULL is the gateway's default; NORMAL for comparison).

Each run uses a fresh store in --dir, first pre-filled with --prefill readings (2,000 s of the
10 x 20 site at 1 s polls by default) so that the readings(point_id, ts) index has its steady
shape: every point's newest entries on their own leaf page. Reported per run:
  readings/s (wall, committed), CPU us per reading, bytes written per reading (/proc/self/io
  wchar: WAL frames + checkpoints; a reading row is ~50-60 B), and, after the run, Store.purge()
  with nothing to delete (what the retention loop runs every 60 s) and a 15-minute window read
  of all 200 points through Store.readings (what the indicator engine does per window).

``--variant`` reshapes the readings indexes before the run, to size a schema change without
editing the repository (bench-only; the Store code is unchanged):
  shipped       whatever Store creates (since 748de8b: INDEX readings(ts) only)
  point_ts      INDEX readings(point_id, ts) only (the schema before 748de8b)
  ts            INDEX readings(ts) only
  point_ts+ts   both
The window read uses Store.readings_window (one range scan for all points) when the Store has
it, else Store.readings per point.

    .venv/bin/python bench/store_ingest.py                       # shipped schema, ~50 s
    .venv/bin/python bench/store_ingest.py --variant shipped,point_ts --sync FULL

Target: >= 50,000 readings/s. Prints a table and one JSON line (prefixed "JSON "). An SD card's
fsync costs milliseconds: on a Pi the small-batch FULL rate will be much lower than here.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.store import Store  # noqa: E402

TARGET = 50_000
POINTS_PER_DEVICE = 20
T0 = float(int(time.time()) - 86400)  # a day ago: inside retention, so purge() finds nothing to delete


def wchar() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def readings_indexes(store: Store) -> dict[str, list[str]]:
    """Index name -> columns, for the readings table."""
    out = {}
    for row in store.db.execute("PRAGMA index_list('readings')").fetchall():
        out[row[1]] = [c[2] for c in store.db.execute(f"PRAGMA index_info('{row[1]}')").fetchall()]
    return out


def apply_variant(store: Store, variant: str) -> str:
    """Reshape the readings indexes (bench-only); returns the resulting index columns, e.g. "(ts)"."""
    if variant != "shipped":
        want = {"point_ts": [["point_id", "ts"]], "ts": [["ts"]], "point_ts+ts": [["point_id", "ts"], ["ts"]]}[variant]
        have = readings_indexes(store)
        for name, cols in have.items():
            if cols not in want and not name.startswith("sqlite_autoindex"):
                store.db.execute(f"DROP INDEX {name}")
        for cols in want:
            if cols not in have.values():
                store.db.execute(f"CREATE INDEX bench_readings_{'_'.join(cols)} ON readings({', '.join(cols)})")
    return " ".join(f"({', '.join(c)})" for c in readings_indexes(store).values())


def make_batches(ids: list[int], devices: int, n_readings: int, batch: int, ts: float,
                 step: float) -> tuple[list[tuple[list[Any], list[Any]]], float]:
    """Readings in poll order (device by device, point by point); ``step`` s between cycles."""
    rng = random.Random(1)
    out: list[tuple[list[Any], list[Any]]] = []
    i = 0
    while i < n_readings:
        rows: list[Any] = []
        polls: list[Any] = []
        while len(rows) < batch and i < n_readings:
            if i % POINTS_PER_DEVICE == 0:
                polls.append((ts, f"meter-{(i // POINTS_PER_DEVICE) % devices:02d}", 1, None))
            rows.append((ts, ids[i % len(ids)], 230.0 + rng.random(), "good"))
            i += 1
            if i % len(ids) == 0:
                ts += step
        out.append((rows, polls))
    return out, ts


def run(variant: str, sync: str, n_readings: int, batch: int, devices: int, prefill: int, base: Path) -> dict:
    d = Path(tempfile.mkdtemp(prefix="store-ingest-", dir=base))
    try:
        store = Store(d / "edgeproof.db", sync)
        indexes = apply_variant(store, variant)
        ids = [store.point(f"meter-{k // POINTS_PER_DEVICE:02d}", f"p{k % POINTS_PER_DEVICE:02d}",
                           f"energy.p{k % POINTS_PER_DEVICE:02d}", "V").id
               for k in range(devices * POINTS_PER_DEVICE)]
        pre, ts = make_batches(ids, devices, prefill, 50_000, T0, 1.0)
        for rows, polls in pre:
            store.add_readings(rows, polls)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        batches, _ = make_batches(ids, devices, n_readings, batch, ts, 1.0)
        w0, c0, t0 = wchar(), time.process_time(), time.perf_counter()
        for rows, polls in batches:
            store.add_readings(rows, polls)
        t1, c1, w1 = time.perf_counter(), time.process_time(), wchar()
        total = store.count("readings")
        assert total == prefill + n_readings
        # what the retention loop does every 60 s (nothing old enough to delete here)
        p0 = time.process_time()
        store.purge(90 * 86400, 1e12, T0)
        purge_ms = 1000 * (time.process_time() - p0)
        # a 15-minute window of every point, as the indicator engine reads it
        start = T0 + 100.0
        r0 = time.process_time()
        if hasattr(store, "readings_window"):  # one range scan for all points (748de8b and later)
            n_window = sum(len(v[0]) for v in store.readings_window(ids, start, start + 900).values())
        else:
            n_window = sum(len(store.readings(pid, start, start + 900)) for pid in ids)
        window_ms = 1000 * (time.process_time() - r0)
        store.close()
        size = sum(p.stat().st_size for p in d.iterdir() if p.name.startswith("edgeproof.db"))
        return {"variant": variant, "indexes": indexes, "synchronous": sync, "batch": batch, "readings": n_readings,
                "prefill": prefill, "commits": len(batches), "seconds": round(t1 - t0, 3),
                "readings_per_s": round(n_readings / (t1 - t0)), "commits_per_s": round(len(batches) / (t1 - t0), 1),
                "cpu_us_per_reading": round(1e6 * (c1 - c0) / n_readings, 2),
                "written_bytes_per_reading": round((w1 - w0) / n_readings),
                "file_bytes_per_reading": round(size / total, 1),
                "purge_ms": round(purge_ms, 1), "purge_rows": total,
                "window_read_ms": round(window_ms, 1), "window_rows": n_window}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=200_000, help="readings measured per run")
    ap.add_argument("--prefill", type=int, default=400_000, help="readings already in the store")
    ap.add_argument("--batches", default="50,200,500,5000", help="rows per commit, comma separated")
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--sync", default="FULL,NORMAL")
    ap.add_argument("--variant", default="shipped", help="shipped,point_ts,ts,point_ts+ts (comma separated)")
    ap.add_argument("--dir", default=None, help="where the store files go (default: system temp dir)")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.gettempdir())
    results = []
    for variant in args.variant.split(","):
        for sync in args.sync.split(","):
            for batch in [int(x) for x in args.batches.split(",")]:
                results.append(run(variant, sync, args.readings, batch, args.devices, args.prefill, base))
    print(f"Store.add_readings: {args.readings} readings per run after {args.prefill} pre-filled, {args.devices} "
          f"devices x {POINTS_PER_DEVICE} points, store dir {base}\n")
    hdr = ("variant", "readings indexes", "sync", "rows/commit", "readings/s", "CPU us/rdg", "written B/rdg",
           "file B/rdg", "purge ms", "window read ms", "target")
    table = [hdr] + [(r["variant"], r["indexes"], r["synchronous"], str(r["batch"]), f"{r['readings_per_s']:,}",
                      f"{r['cpu_us_per_reading']:.1f}", f"{r['written_bytes_per_reading']:,}",
                      f"{r['file_bytes_per_reading']}", f"{r['purge_ms']:.1f}", f"{r['window_read_ms']:.0f}",
                      "ok" if r["readings_per_s"] >= TARGET else "MISS") for r in results]
    widths = [max(len(row[i]) for row in table) for i in range(len(hdr))]
    for j, row in enumerate(table):
        print(" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if j == 0:
            print("-+-".join("-" * w for w in widths))
    print(f"\npurge ms: Store.purge() over {results[0]['purge_rows']:,} rows with nothing to delete (every 60 s); "
          f"window read: {results[0]['window_rows']:,} rows (15 min x {args.devices * POINTS_PER_DEVICE} points)")
    print("JSON " + json.dumps({"bench": "store_ingest", "target_readings_per_s": TARGET, "results": results}))


if __name__ == "__main__":
    main()
