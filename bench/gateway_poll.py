"""Gateway polling cost: CPU per point read, memory, idle CPU, requests per cycle, cadence, completeness.

Setup (the same shape as the ThingsBoard IoT Gateway measurement in notes/gateways.md):
10 emulated Modbus TCP meters x 20 float32 input-register points (contiguous, so one request
per device per cycle), served by real pymodbus servers in a SEPARATE process
(bench/_emulators.py) so that only the gateway is measured. The gateway is the real CLI,
``edgeproof run --profile <tmp>.toml --state <tmpdir> --no-simulate``, as its own process,
with uplink transport "none", the status page disabled and the default indicator windows
(15m, 1h) and store settings (WAL, synchronous FULL, 0.25 s writer flush).

Scenarios (each a fresh state dir and gateway process; the emulators are shared):
  1s     all devices polled every 1 s          (target <= 80 us CPU per point read)
  100ms  all devices polled every 100 ms       (target <= 40 us CPU per point read)
  idle   the same 10 devices, enabled = false  (target < 0.5 % of one core)

Measured on the gateway process only, after a warm-up, from /proc/<pid>/stat (utime+stime,
all threads) and /proc/<pid>/status (VmRSS sampled every 0.5 s -> median; VmHWM at the end):
  - CPU us per point read = CPU time over the window / readings whose ts is in the window
  - requests per device per cycle = emulator requests served over the gateway's life / rows in `polls`
  - mean poll interval per device, from the `polls` table timestamps in the gateway's SQLite file
  - readings stored vs expected = rows in `readings` with ts in the window vs devices*points*window/interval

    .venv/bin/python bench/gateway_poll.py                         # all three, ~2.5 min
    .venv/bin/python bench/gateway_poll.py --only 100ms --d100 60
    .venv/bin/python bench/gateway_poll.py --only 100ms --pyspy /tmp/gw.svg   # + a py-spy flame graph

Prints a table and one JSON line (prefixed "JSON "). ``--gateway-pythonpath DIR`` prepends DIR to
the gateway's PYTHONPATH, so a bench-only ``sitecustomize.py`` there can monkeypatch the runtime to
try a change without editing the repository (never commit such patches).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _emulators import bench_points  # noqa: E402
from doc_tables import host_line, load_result, save_result, write_block  # noqa: E402

VENV_BIN = Path(sys.executable).parent
EDGEPROOF = VENV_BIN / "edgeproof"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = {"us_per_point_1s": 80.0, "us_per_point_100ms": 40.0, "rss_mb": 36.0, "idle_pct": 0.5,
           "requests_per_cycle": 1.0, "interval_err_pct": 1.0}


# -- /proc ----------------------------------------------------------------------------------
def cpu_s(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread (tid:name), to split the event loop from the store-writer/snapshot threads."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, _, rest = f.read().rpartition(")")
            fields = rest.split()
            out[f"{tid}:{head.split('(', 1)[1]}"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except OSError:
            pass
    return out


def io_bytes(pid: int) -> dict[str, int]:
    """wchar (bytes passed to write(2)) and write_bytes (bytes sent to the block layer) of the process."""
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("wchar", "write_bytes"):
                out[key] = int(value)
    return out


def status_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(rest.split()[0])
    return out


# -- emulators ------------------------------------------------------------------------------
class Emulators:
    def __init__(self, devices: int, points: int) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_emulators.py"), "--devices",
                                      str(devices), "--points", str(points)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.ports: list[int] = json.loads(self.proc.stdout.readline())["ports"]

    def counts(self) -> list[int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("counts\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["requests"]

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


# -- profile --------------------------------------------------------------------------------
def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def write_profile(path: Path, ports: list[int], points: int, interval_s: float, enabled: bool) -> None:
    lines = ['schema_version = 1', '', '[site]', 'id = "bench"', 'name = "gateway_poll bench"', '',
             '[uplink]', 'transport = "none"', '', '[status]', 'enabled = false', '',
             '[models.bench-meter]', 'name = "bench-meter"', 'description = "20 float32 input registers, contiguous"']
    for p in bench_points(points):
        lines += ['', '[[models.bench-meter.points]]'] + [f"{k} = {toml_value(v)}" for k, v in p.items()]
    for i, port in enumerate(ports):
        lines += ['', '[[devices]]', f'name = "meter-{i:02d}"', 'driver = "modbus_tcp"', 'model = "bench-meter"',
                  'host = "127.0.0.1"', f'port = {port}', 'unit_id = 1', f'poll_interval_s = {interval_s}',
                  'timeout_s = 1.0', f'enabled = {toml_value(enabled)}']
    path.write_text("\n".join(lines) + "\n")


def prefill_store(db_path: Path, n_devices: int, points: int, hours: float, catch_up: bool = False) -> int:
    """An aged store: ``hours`` of 1 s polls for these devices ending now, written through the
    Store API with the same device/point names the gateway will use (so it reuses the point ids).
    With ``catch_up`` the indicator watermarks are set to the prefill's start, so the gateway
    computes every window of the prefilled hours as it starts (the memory peak of window
    computation, which a short run otherwise never reaches)."""
    sys.path.insert(0, str(ROOT))
    from gateway.indicators.windows import window_start
    from gateway.store import Store

    store = Store(db_path, "NORMAL")
    pts = bench_points(points)
    ids = [store.point(f"meter-{d:02d}", p["name"], p["meaning"], p["unit"]).id
           for d in range(n_devices) for p in pts]
    start = time.time() - hours * 3600
    n, rows, polls = 0, [], []
    for k in range(int(hours * 3600)):
        ts = start + k
        rows += [(ts, pid, 230.0 + (k % 7), "good") for pid in ids]
        polls += [(ts, f"meter-{d:02d}", 1, None) for d in range(n_devices)]
        if len(rows) >= 50_000:
            store.add_readings(rows, polls)
            n, rows, polls = n + len(rows), [], []
    if rows:
        store.add_readings(rows, polls)
        n += len(rows)
    if catch_up:
        for length in (900, 3600):
            store.meta_set(f"ind.wm.{length}", str(window_start(start, length)))
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return n


# -- one scenario ---------------------------------------------------------------------------
def run_scenario(name: str, emus: Emulators, points: int, interval_s: float, duration_s: float,
                 warmup_s: float, enabled: bool, keep: bool, pythonpath: str | None,
                 pyspy_out: str | None = None, extra_env: list[str] | None = None,
                 prefill_hours: float = 0.0, catch_up: bool = False) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"gwbench-{name}-"))
    profile, state = tmp / "bench.toml", tmp / "state"
    write_profile(profile, emus.ports, points, interval_s, enabled)
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    for kv in extra_env or []:
        key, _, value = kv.partition("=")
        env[key] = value
    subprocess.run([str(EDGEPROOF), "init", "--profile", str(profile), "--state", str(state), "--json"],
                   check=True, capture_output=True, env=env)
    prefilled = prefill_store(state / "edgeproof.db", len(emus.ports), points, prefill_hours,
                              catch_up) if prefill_hours else 0
    log = open(tmp / "gateway.log", "w")  # noqa: SIM115
    before = emus.counts()
    t_spawn = time.time()
    gw = subprocess.Popen([str(EDGEPROOF), "run", "--profile", str(profile), "--state", str(state),
                           "--no-simulate"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    pid = gw.pid
    pyspy = None
    try:
        time.sleep(warmup_s)
        if gw.poll() is not None:
            raise RuntimeError(f"gateway exited early ({gw.returncode}); see {tmp / 'gateway.log'}")
        st0 = status_kb(pid)
        t0, c0, th0, io0 = time.time(), cpu_s(pid), thread_cpu_s(pid), io_bytes(pid)
        if pyspy_out:
            pyspy = subprocess.Popen([str(VENV_BIN / "py-spy"), "record", "-o", pyspy_out, "--pid", str(pid),
                                      "--duration", str(int(duration_s)), "--rate", "200", "--nonblocking",
                                      "--format", "flamegraph" if pyspy_out.endswith(".svg") else "raw"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rss: list[int] = []
        end = t0 + duration_s
        while time.time() < end:
            rss.append(status_kb(pid)["VmRSS"])
            time.sleep(min(0.5, max(0.0, end - time.time())))
        t1, c1, th1, io1 = time.time(), cpu_s(pid), thread_cpu_s(pid), io_bytes(pid)
        st1 = status_kb(pid)
        if pyspy is not None:
            pyspy.wait(30)
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            rc = gw.wait(30)
        except subprocess.TimeoutExpired:
            gw.kill()
            rc = gw.wait()
        log.close()
    after = emus.counts()

    db = sqlite3.connect(f"file:{state / 'edgeproof.db'}?mode=ro", uri=True)
    n_dev = len(emus.ports) if enabled else 0
    out: dict[str, Any] = {
        "scenario": name, "interval_s": interval_s if enabled else None, "devices": n_dev,
        "points_per_device": points if enabled else 0, "window_s": round(t1 - t0, 2),
        "prefilled_readings": prefilled,
        "cpu_s": round(c1 - c0, 3), "cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 2),
        "rss_mb_median": round(statistics.median(rss) / 1024, 1), "rss_mb_start": round(st0["VmRSS"] / 1024, 1),
        "rss_mb_end": round(st1["VmRSS"] / 1024, 1), "hwm_mb": round(st1["VmHWM"] / 1024, 1),
        "written_kb_per_s": round((io1["wchar"] - io0["wchar"]) / 1024 / (t1 - t0), 1),
        "block_written_kb_per_s": round((io1["write_bytes"] - io0["write_bytes"]) / 1024 / (t1 - t0), 1),
        "cpu_s_by_thread": {k: round(v - th0.get(k, 0.0), 2) for k, v in th1.items()},
        "rss_mb_trace_5s": [round(x / 1024, 1) for x in rss[::10]],
        "threads": st1["Threads"], "exit_code": rc, "state_dir": str(tmp) if keep else None,
    }
    if enabled:
        readings = db.execute("SELECT COUNT(*), SUM(quality='good') FROM readings WHERE ts>=? AND ts<?",
                              (t0, t1)).fetchone()
        total_polls = db.execute("SELECT COUNT(*), SUM(ok) FROM polls WHERE ts>=?", (t_spawn,)).fetchone()
        served = sum(a - b for a, b in zip(after, before, strict=True))
        intervals, worst = [], 0.0
        gaps: list[float] = []
        for i in range(n_dev):
            ts = [r[0] for r in db.execute("SELECT ts FROM polls WHERE device=? AND ts>=? AND ts<? ORDER BY ts",
                                           (f"meter-{i:02d}", t0, t1))]
            if len(ts) >= 2:
                mean = (ts[-1] - ts[0]) / (len(ts) - 1)
                intervals.append(mean)
                worst = max(worst, abs(mean / interval_s - 1) * 100)
                gaps += [b - a for a, b in zip(ts, ts[1:], strict=False)]
        expected = n_dev * points * (t1 - t0) / interval_s
        out.update({
            "readings_in_window": readings[0], "readings_good": int(readings[1] or 0),
            "readings_expected": round(expected), "stored_pct": round(100 * readings[0] / expected, 2),
            "us_per_point": round(1e6 * (c1 - c0) / max(1, readings[0]), 1),
            "written_bytes_per_reading": round((io1["wchar"] - io0["wchar"]) / max(1, readings[0])),
            "polls_total": total_polls[0], "polls_failed": total_polls[0] - int(total_polls[1] or 0),
            "requests_served": served,
            "requests_per_device_cycle": round(served / max(1, total_polls[0]), 3),
            "mean_interval_s": round(statistics.mean(intervals), 5) if intervals else None,
            "interval_err_pct_mean": round(abs(statistics.mean(intervals) / interval_s - 1) * 100, 3)
            if intervals else None,
            "interval_err_pct_worst_device": round(worst, 3),
            "interval_max_s": round(max(gaps), 4) if gaps else None,
            "interval_p99_s": round(sorted(gaps)[int(0.99 * (len(gaps) - 1))], 4) if gaps else None,
            "indicators_made": db.execute("SELECT COUNT(*) FROM indicators").fetchone()[0],
        })
    db.close()
    with open(tmp / "gateway.log") as f:
        levels = [json.loads(x).get("level") for x in f if x.startswith("{")]
    out["log_warnings"] = sum(1 for x in levels if x in ("warning", "error", "critical"))
    out["startup_to_window_s"] = round(t0 - t_spawn, 2)
    if not keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out


def git_state() -> dict[str, Any]:
    """The commit measured, and whether the gateway's code differs from it (others work in this tree)."""
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "gateway", "drivers")
    return {"commit": git("rev-parse", "--short", "HEAD"), "gateway_drivers_dirty": bool(dirty)}


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [("scenario", "CPU %core", "us/point", "RSS med MB", "HWM MB", "req/dev/cycle", "mean interval",
             "err % (worst dev)", "stored/expected", "written KB/s (B/rdg)", "thr")]
    for r in results:
        if r["devices"]:
            rows.append((f"{r['scenario']} ({r['devices']}x{r['points_per_device']})", f"{r['cpu_pct']:.2f}",
                         f"{r['us_per_point']:.1f}", f"{r['rss_mb_median']:.1f}", f"{r['hwm_mb']:.1f}",
                         f"{r['requests_per_device_cycle']:.3f}", f"{r['mean_interval_s']:.4f} s",
                         f"{r['interval_err_pct_mean']:.3f} ({r['interval_err_pct_worst_device']:.3f})",
                         f"{r['readings_in_window']}/{r['readings_expected']} ({r['stored_pct']:.1f}%)",
                         f"{r['written_kb_per_s']:.0f} ({r['written_bytes_per_reading']})", str(r["threads"])))
        else:
            rows.append((f"{r['scenario']} (polling off)", f"{r['cpu_pct']:.2f}", "-", f"{r['rss_mb_median']:.1f}",
                         f"{r['hwm_mb']:.1f}", "-", "-", "-", "-", f"{r['written_kb_per_s']:.1f}",
                         str(r["threads"])))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for j, row in enumerate(rows):
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        if j == 0:
            print("-+-".join("-" * w for w in widths))
    print()
    for r in results:
        if r["devices"]:
            key = "us_per_point_1s" if r["interval_s"] >= 1 else "us_per_point_100ms"
            err = r["interval_err_pct_worst_device"]
            checks = [f"us/point<={TARGETS[key]:.0f}: {verdict(r['us_per_point'] <= TARGETS[key])}",
                      f"RSS<={TARGETS['rss_mb']:.0f}MB: {verdict(r['hwm_mb'] <= TARGETS['rss_mb'])}",
                      f"1 req/dev/cycle: {verdict(abs(r['requests_per_device_cycle'] - 1) < 0.01)}",
                      f"interval within 1%: {verdict(err is not None and err <= TARGETS['interval_err_pct'])}",
                      f"stored: {r['stored_pct']:.1f}%"]
        else:
            checks = [f"idle<{TARGETS['idle_pct']}% core: {verdict(r['cpu_pct'] < TARGETS['idle_pct'])}",
                      f"RSS<={TARGETS['rss_mb']:.0f}MB: {verdict(r['hwm_mb'] <= TARGETS['rss_mb'])}"]
        print(f"{r['scenario']:>6}: " + "; ".join(checks) + f"; log warnings {r['log_warnings']}"
              + (f"; indicators {r.get('indicators_made')}" if r["devices"] else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--only", choices=["1s", "100ms", "idle"], action="append",
                    help="run only this scenario (repeatable); default all three")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds from spawn before measuring")
    ap.add_argument("--d1s", type=float, default=60.0, help="measured seconds at 1 s polls")
    ap.add_argument("--d100", type=float, default=30.0, help="measured seconds at 100 ms polls")
    ap.add_argument("--didle", type=float, default=30.0, help="measured seconds with polling off")
    ap.add_argument("--pyspy", metavar="SVG", help="record py-spy samples during the measured window: a flame graph if "
                    "SVG ends in .svg, else collapsed stacks (sampling perturbs the figures a little)")
    ap.add_argument("--prefill-hours", type=float, default=0.0,
                    help="start each gateway on an aged store: this many hours of 1 s readings already in it "
                         "(720k readings per hour; shows retention scans and index write amplification)")
    ap.add_argument("--catch-up", action="store_true",
                    help="with --prefill-hours: the gateway computes the prefilled hours' windows as it starts "
                         "(peak memory of window computation)")
    ap.add_argument("--keep", action="store_true", help="keep each scenario's temp dir (profile, store, log)")
    ap.add_argument("--gateway-pythonpath", help="prepend to the gateway's PYTHONPATH (bench-only experiments)")
    ap.add_argument("--out", type=Path, default=None, help="result JSON (default bench/results/gateway_poll.json)")
    ap.add_argument("--write-docs", action="store_true", help="replace the generated table in the docs")
    ap.add_argument("--render", type=Path, help="no run: print (and --write-docs) the table of a saved result")
    ap.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the gateway process, e.g. MALLOC_ARENA_MAX=2 (repeatable)")
    args = ap.parse_args()
    if args.render:
        table = render(load_result(args.render))
        print(table)
        if args.write_docs:
            write_block("gateway_poll", table)
        return
    wanted = args.only or ["1s", "100ms", "idle"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop gateway + emulators
    emus = Emulators(args.devices, args.points)
    results = []
    try:
        for name in ["1s", "100ms", "idle"]:
            if name not in wanted:
                continue
            interval, dur, enabled = {"1s": (1.0, args.d1s, True), "100ms": (0.1, args.d100, True),
                                      "idle": (1.0, args.didle, False)}[name]
            results.append(run_scenario(name, emus, args.points, interval, dur, args.warmup, enabled, args.keep,
                                        args.gateway_pythonpath, args.pyspy if name != "idle" else None,
                                        args.gateway_env, args.prefill_hours, args.catch_up))
    finally:
        emus.close()
    gs = git_state()
    dirty = " (+ uncommitted changes in gateway/ or drivers/)" if gs["gateway_drivers_dirty"] else ""
    print(f"commit {gs['commit']}{dirty}; "
          f"gateway: {EDGEPROOF} run --no-simulate; {args.devices} meters x {args.points} float32 points; "
          f"warm-up {args.warmup:g} s; emulators in a separate process; host {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    print()
    print_table(results)
    result = {"bench": "gateway_poll", **gs, "loadavg": os.getloadavg(),
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": {"cores": os.cpu_count()},
              "gateway_env": args.gateway_env, "gateway_pythonpath": args.gateway_pythonpath,
              "targets": TARGETS, "results": results}
    print("JSON " + json.dumps(result))
    if not (args.gateway_env or args.gateway_pythonpath or args.prefill_hours or args.only):
        print(f"result: {save_result('gateway_poll', result, args.out)}")  # experiments do not replace it
    if args.write_docs:
        write_block("gateway_poll", render(result))


def render(res: dict[str, Any]) -> str:
    """The docs table (docs/benchmarks.md and bench/README.md) from a result: one source, no copies."""
    t = res["targets"]
    by = {r["scenario"]: r for r in res["results"]}
    cols = [n for n in ("1s", "100ms", "idle") if n in by]
    head = "| | " + " | ".join({"1s": "1 s polls", "100ms": "100 ms polls", "idle": "idle (polling off)"}[c]
                               for c in cols) + " | target |"

    def cell(c: str, f: Any) -> str:
        r = by[c]
        try:
            return f(r) if r["devices"] or f is _idle_ok else "-"
        except (KeyError, TypeError):
            return "-"

    rows = [
        ("CPU µs per point read", lambda r: f"**{r['us_per_point']:.1f}**",
         f"<= {t['us_per_point_1s']:.0f} / <= {t['us_per_point_100ms']:.0f}"),
        ("CPU % of one core", _idle_ok, f"idle < {t['idle_pct']}"),
        ("RSS steady (median) / peak", None, f"<= {t['rss_mb']:.0f} MB"),
        ("Modbus requests per device per cycle", lambda r: f"{r['requests_per_device_cycle']:.3f}", "1"),
        ("mean poll interval (worst device error)",
         lambda r: f"{r['mean_interval_s']:.4f} s ({r['interval_err_pct_worst_device']:.3f} %)", "within 1 %"),
        ("readings stored vs expected", lambda r: f"{r['stored_pct']:.1f} %", ""),
        ("bytes written per reading", lambda r: f"{r['written_bytes_per_reading']} B", ""),
    ]
    out = [head, "|---|" + "---|" * (len(cols) + 1)]
    for label, f, target in rows:
        if f is None:
            vals = [f"{by[c]['rss_mb_median']:.1f} / {by[c]['hwm_mb']:.1f} MB" for c in cols]
        else:
            vals = [cell(c, f) for c in cols]
        out.append(f"| {label} | " + " | ".join(vals) + f" | {target} |")
    return "\n".join([*out, "", host_line(res)])


def _idle_ok(r: dict[str, Any]) -> str:
    return f"{r['cpu_pct']:.2f}"


if __name__ == "__main__":
    main()
