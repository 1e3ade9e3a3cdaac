"""A large MES export through `edgeproof import-erp`: peak memory and time.

Generates a production export (the MES columns of tests/fixtures/erp/mes_shift_gbk.csv, UTF-8,
Chinese headers and product names, one work order per row, spread over the year ending a week ago) of
``--size`` MB, then runs the real CLI in its own process (`edgeproof init` + `edgeproof
import-erp --json`) on a profile with one folder connector, and reads the child's peak RSS
(``ru_maxrss`` of the waited child) and wall time. The enterprise indicators of every day
the export touched are recomputed by the same command (ConnectorRunner.recompute).

The two phases are told apart from outside: the bench samples the child's resident set
(/proc/PID/status, every 0.25 s) and reads the store (read-only, every second) for the moment
the import is recorded complete; what follows is the recomputation. ``--timeout`` bounds a run
(the child is stopped and the result says how far it got).

    .venv/bin/python bench/import_large.py              # 200 MB
    .venv/bin/python bench/import_large.py --size 20    # quicker

Each run replaces the row of its size in bench/results/import_large.json (``--out`` to change)
and prints one ``JSON {...}`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from doc_tables import RESULTS, host_line, load_result, save_result, write_block  # noqa: E402

HEADER = "工单号,生产日期,班次,产品名称,计划数量,完工数量,良品数量,计划工时(小时),实际工时(小时)\n"
PRODUCTS = ["刹车盘 BD-220", "支架 ZJ-15", "法兰 FL-80", "轴承座 ZC-32", "壳体 KT-105", "齿轮 CL-48"]
PROFILE = """
[site]
id = "bench-import"
timezone = "Asia/Shanghai"

[uplink]
transport = "none"

[status]
enabled = false

[[connectors]]
name = "mes"
kind = "folder"
dataset = "production"
path = "{drop}"
pattern = "*.csv"
[connectors.columns]
work_order = "工单号"
date = "生产日期"
shift = "班次"
product = "产品名称"
planned_qty = "计划数量"
completed_qty = "完工数量"
good_qty = "良品数量"
scrap_qty = {{ expr = "completed_qty - good_qty" }}
planned_min = {{ column = "计划工时(小时)", unit = "h" }}
run_min = {{ column = "实际工时(小时)", unit = "h" }}
"""


def generate(path: Path, size_mb: float, seed: int = 7) -> int:
    """Write an export of about ``size_mb`` MB; returns its data rows."""
    rng = random.Random(seed)
    target = int(size_mb * 1_000_000)
    # A year of closed days ending last week (inside the window the gateway recomputes,
    # MAX_DAYS_BACK), the rows spread evenly: ~62 bytes a row.
    start = date.today() - timedelta(days=372)
    per_day = max(1, target // 62 // 365)
    rows = 0
    written = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        written += len(HEADER.encode())
        buf: list[str] = []
        while written < target:
            day = start + timedelta(days=(rows // per_day) % 365)
            planned = rng.randint(200, 800)
            done = planned - rng.randint(0, 40)
            good = done - rng.randint(0, 30)
            line = (f"WO-{rows:09d},{day.year}/{day.month}/{day.day},{'早班' if rows % 2 else '晚班'},"
                    f"{PRODUCTS[rows % len(PRODUCTS)]},{planned},{done},{good},8,{rng.choice(['7.5', '8', '6.25'])}\n")
            buf.append(line)
            written += len(line.encode())
            rows += 1
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    return rows


def run(size_mb: float, keep: bool, timeout_s: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="ep-import-large-"))
    try:
        drop = tmp / "drop"
        drop.mkdir()
        export = drop / "mes.csv"
        t0 = time.monotonic()
        rows = generate(export, size_mb)
        gen_s = time.monotonic() - t0
        profile = tmp / "bench.toml"
        profile.write_text(PROFILE.format(drop=drop), encoding="utf-8")
        state = tmp / "state"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEPROOF_LOG_LEVEL": "WARNING"}
        cli = [sys.executable, "-m", "gateway.cli"]
        subprocess.run([*cli, "init", "--profile", str(profile), "--state", str(state)], check=True,
                       capture_output=True, env=env, cwd=ROOT)
        commit = _commit()  # before the child starts: it imports the indicator modules only when it recomputes
        t0 = time.monotonic()
        proc = subprocess.Popen([*cli, "import-erp", "--profile", str(profile), "--state", str(state), "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
        db = state / "edgeproof.db"
        watch = _watch(proc, db, t0, timeout_s)
        wall = time.monotonic() - t0
        out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
        status, usage = watch["status"], watch["usage"]
        finished = not watch["timed_out"]
        if finished and os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"import-erp failed ({status}): {err[-2000:]}")
        report = json.loads(out.splitlines()[0]) if finished else {}
        imported_at = watch["imported_at"]
        result = {
            "bench": "import_large", "size_mb": round(export.stat().st_size / 1e6, 1), "rows": rows,
            "rows_ok": report.get("rows_ok"), "quarantined": report.get("quarantined_count") or 0,
            "days": len(report.get("days", [])), "wall_s": round(wall, 1), "rows_per_s": round(rows / wall),
            "finished": finished, "timeout_s": timeout_s,
            "import_s": None if imported_at is None else round(imported_at, 1),
            "recompute_s": None if imported_at is None or not finished else round(wall - imported_at, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "import_peak_rss_mb": round(watch["rss_import_kb"] / 1024, 1),
            "recompute_peak_rss_mb": round(watch["rss_recompute_kb"] / 1024, 1),
            "indicators": _indicators(db), "store_mb": round(db.stat().st_size / 1e6, 1),
            "generate_s": round(gen_s, 1), "commit": commit,
            "host": {"cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return result
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _commit() -> str | None:
    """The commit measured (a figure without its code means little); ``+dirty`` when the
    gateway's code differs from it."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "gateway"], capture_output=True, text=True,
                           cwd=ROOT, check=False)
    return (head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")) or None


def _import_complete(db: Path) -> bool:
    """Has the import been recorded complete (no ``incomplete:`` import left)? Read-only."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            got = con.execute("SELECT COUNT(*), SUM(content_hash LIKE 'incomplete:%') FROM erp_imports").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return bool(got[0]) and not got[1]


def _indicators(db: Path) -> int | None:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM indicators").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return None


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _watch(proc: subprocess.Popen, db: Path, t0: float, timeout_s: float) -> dict:  # type: ignore[type-arg]
    """Wait for the child (its rusage), sampling its RSS per phase; stop it at the timeout."""
    w: dict = {"imported_at": None, "rss_import_kb": 0, "rss_recompute_kb": 0, "timed_out": False}
    next_db = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            w["status"], w["usage"] = status, usage
            return w
        now = time.monotonic() - t0
        rss = _rss_kb(proc.pid)
        if w["imported_at"] is None and now >= next_db:
            next_db = now + 1.0
            if _import_complete(db):
                w["imported_at"] = now
        key = "rss_import_kb" if w["imported_at"] is None else "rss_recompute_kb"
        w[key] = max(w[key], rss)
        if now > timeout_s and not w["timed_out"]:
            w["timed_out"] = True
            proc.kill()
        time.sleep(0.25)


def _row(res: dict) -> str:
    def s(v: float | None) -> str:
        return "–" if v is None else f"{v:.0f} s"

    import_rss = res.get("import_peak_rss_mb")
    recompute_rss = res.get("recompute_peak_rss_mb")
    done = "" if res.get("finished", True) else f" (stopped at {res['timeout_s']:.0f} s)"
    return (f"| {res['size_mb']} MB MES CSV, {res['days']} days | {res['rows']:,} ({res['quarantined']} quarantined) | "
            f"{s(res.get('import_s'))} | {s(res.get('recompute_s'))} | {res['wall_s']:.0f} s{done} | "
            f"{res['cpu_s']:.0f} s | {'–' if import_rss is None else f'{import_rss:.0f} MB'} | "
            f"{'–' if recompute_rss is None else f'{recompute_rss:.0f} MB'} | **{res['peak_rss_mb']:.0f} MB** | "
            f"{res.get('indicators') or 0:,} | {res['store_mb']:.0f} MB |")


def runs_of(saved: dict) -> list[dict]:
    """The runs of a results file, smallest export first (an older file holds one run)."""
    return sorted(saved.get("runs", [saved]), key=lambda r: r["size_mb"])


def render(res: dict) -> str:
    """The docs table (docs/benchmarks.md, bench/README.md) from a results file."""
    runs = runs_of(res)
    return "\n".join([
        "| export | rows | import | recompute | wall time | CPU | import peak RSS (sampled) | "
        "recompute peak RSS (sampled) | peak RSS (whole run) | indicators | store after |",
        "|---|---|---|---|---|---|---|---|---|---|---|", *(_row(r) for r in runs), "",
        *(host_line(r) + f" ({r['size_mb']} MB)" for r in runs)])


def merge(saved: dict | None, res: dict) -> dict:
    """The results file with this run replacing the earlier run of the same size."""
    runs = [r for r in (runs_of(saved) if saved else []) if abs(r["size_mb"] - res["size_mb"]) > 0.5]
    return {"bench": "import_large", "runs": sorted([*runs, res], key=lambda r: r["size_mb"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=200.0, help="export size in MB (default 200)")
    ap.add_argument("--out", type=Path, default=None, help="result JSON (default bench/results/import_large.json)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (export, profile, store)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="stop the import after this many seconds")
    ap.add_argument("--write-docs", action="store_true", help="replace the generated table in the docs")
    ap.add_argument("--render", type=Path, help="no run: print (and --write-docs) the table of a saved result")
    args = ap.parse_args()
    if args.render:
        res = load_result(args.render)
    else:
        one = run(args.size, args.keep, args.timeout)
        print(f"{one['size_mb']} MB, {one['rows']} rows: {one['wall_s']} s (import {one['import_s']} s, recompute "
              f"{one['recompute_s']} s), peak RSS {one['peak_rss_mb']} MB, store {one['store_mb']} MB")
        out = args.out or RESULTS / "import_large.json"
        res = merge(load_result(out) if out.exists() else None, one)
        print(f"result: {save_result('import_large', res, out)}")
        print("JSON " + json.dumps(one, ensure_ascii=False))
    if args.write_docs or args.render:
        table = render(res)
        print(table)
        if args.write_docs:
            write_block("import_large", table)


if __name__ == "__main__":
    main()
