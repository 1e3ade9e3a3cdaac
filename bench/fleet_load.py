"""Full-chain load: N simulated gateways -> Mosquitto (shared subscription) -> K ``cloud serve`` on PostgreSQL.

Every gateway is real where it matters: its own identity (Ed25519 key made on "the device",
enrolled over HTTP with a one-time token), its own SQLite store, the real ``Batcher`` signing
chained batches into the outbox (wire format v1), one batch in flight at a time, acks per
gateway. Many gateways share one worker process and one MQTT connection (1,000 paho clients
with a thread each would measure this machine's scheduler, not the receiver); each publishes
on its own topic ``edgeproof/v1/<gateway>/batch`` and gets its verdict on
``edgeproof/v1/<gateway>/ack``. The receivers are real ``cloud serve --mqtt`` processes on a
throwaway PostgreSQL (tests/support/postgres.py), sharing the subscription
``$share/<group>/edgeproof/v1/+/batch``.

Two phases, for K = 1 and then K = 2 (same database and gateways; the chains continue):

* **steady**: each gateway closes one 15-minute window (4 energy indicators -> one batch) plus
  its health summary (one batch of its own, as the batcher packs extra records), once per
  ``--period-s`` seconds of real time (15 minutes compressed), for ``--periods`` periods;
* **outage**: every gateway is offline for ``--backlog-hours`` (default 24: 96 windows and 96
  health summaries, 192 batches per gateway), then all reconnect at once and drain. The backlog
  is signed lazily: ``--presign-windows`` windows (default 8) per gateway are in its outbox at the
  reconnect and the rest are signed during the drain, each gateway kept ``--ahead`` batches ahead
  of its acks, so a 24-hour run for 1,000 gateways neither waits for 192,000 signatures first nor
  holds them (the gateways' signing CPU is reported apart from the receivers').

Reported per K and phase: records/s and batches/s over the phase, p50/p99 latency from batch
creation (signing) to the receiver's ack at the gateway (outage: from the reconnect, since the
batches were made "hours" before), the drain time, CPU seconds per 1,000 records of the
receiver processes and of PostgreSQL (from /proc), what was lost (batches not acknowledged,
or acknowledged but absent from the database) and what was doubled (records stored twice).

    .venv/bin/python bench/fleet_load.py --small                 # 50 gateways, 4 h backlog (~2 min)
    .venv/bin/python bench/fleet_load.py                         # 1,000 gateways, 24 h backlog
    .venv/bin/python bench/fleet_load.py --render bench/results/fleet_load.json --write-docs

Results go to bench/results/fleet_load.json (``--json-out``); ``--write-docs`` replaces the
generated block in docs/benchmarks.md (``bench/doc_tables.py``). ``--baseline JSON`` embeds an
earlier run (e.g. before a change) so the table shows both; ``--receiver-arg=--mqtt-group-max=1``
passes options to every ``cloud serve``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREFIX = "edgeproof/v1"
ENT = "ent-fleet"
T0 = 1764201600
sys.path.insert(0, str(ROOT / "bench"))
from doc_tables import markers, write_block  # noqa: E402

BEGIN, END = markers("fleet_load")
TICK = os.sysconf("SC_CLK_TCK")


# -- the gateways (worker processes) --------------------------------------------------------------

class Fleet:
    """The gateways of one worker process, their stores and one MQTT connection."""

    def __init__(self, base: Path, names: list[str], broker: tuple[str, int], timeout_s: float = 60.0) -> None:
        import paho.mqtt.client as mqtt

        self.base, self.names, self.timeout_s = base, names, timeout_s
        self.stores: dict[str, Any] = {}
        self.batchers: dict[str, Any] = {}
        self.windows = dict.fromkeys(names, 0)
        self.lock = threading.Lock()
        self.inflight: dict[str, tuple[int, str, float]] = {}  # gateway -> (seq, hash, sent at)
        self.latencies: list[float] = []
        self.acked = 0
        self.records_acked = 0
        self.rejected: dict[str, int] = {}
        self.resends = 0
        self.since: float | None = None  # outage: latency measured from the reconnect
        self.owed = dict.fromkeys(names, 0)  # outage windows not signed yet (signed lazily in the drain)
        self.ahead = dict.fromkeys(names, 0)  # batches signed and not yet acknowledged, per gateway
        self.produce_s = 0.0  # wall time spent signing inside the drain
        self.online = False
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-{uuid.uuid4().hex[:10]}")
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = lambda c, *_: (c.subscribe(f"{PREFIX}/+/ack", qos=1), self.connected.set())
        self.client.on_message = self._on_ack
        self.client.connect(*broker, keepalive=60)
        self.client.loop_start()
        if not self.connected.wait(20):
            raise RuntimeError("worker could not connect to the broker")

    def setup(self, url: str, tokens: list[str]) -> None:
        from gateway.identity import enroll, init_identity, load_identity
        from gateway.store import Store
        from gateway.uplink.batcher import Batcher

        for name, token in zip(self.names, tokens, strict=True):
            state = self.base / name
            init_identity(state, name, "bench")
            enroll(state, url, token)
            store = Store(state / "edgeproof.db", "NORMAL")
            self.stores[name] = store
            self.batchers[name] = Batcher(store, load_identity(state), max_records=500)

    def produce(self, name: str) -> None:
        """Close one 15-minute window (4 indicators, one batch) and sign a health summary (one batch)."""
        from gateway.wire import health as wire_health

        store, k = self.stores[name], self.windows[name]
        self.windows[name] = k + 1
        self.ahead[name] += 2
        store.add_indicators([{"name": "energy.kwh", "category": "energy", "subject": f"meter-{m}",
                               "window_start": T0 + 900 * k, "window_len": 900, "value": 12.5 + m, "unit": "kWh",
                               "quality": [], "version": 1, "detail": {}} for m in range(4)])
        self.batchers[name].pack_once()
        backlog = store.outbox_head() - store.acked("fleet")
        # A well-formed summary (gateway/wire/health.py), as the runtime signs it: the receiver stores it as the
        # gateway's latest health; a malformed one would cost a finding per summary instead.
        self.batchers[name].pack_once(extra_records=[wire_health.health_record(
            subject=name, ts=T0 + 900 * (k + 1), boot=1, version="bench", uptime_s=900 * (k + 1),
            clock={"synced": True, "source": "kernel"},
            backlog={"batches": backlog, "records": backlog * 2, "pending_indicators": 0,
                     "oldest_unacked_s": 900 * backlog // 2 if backlog else None},
            devices={"total": 4, "healthy": 4, "unhealthy": 0, "starting": 0, "errors": {}},
            store={"days_left": 300.0, "size_mb": 12.0}, consent={"last_change": None, "event": None})])

    def _next(self, name: str) -> None:
        """Publish this gateway's next unacknowledged batch, if none is in flight (caller holds the lock)."""
        if not self.online or name in self.inflight:
            return
        store = self.stores[name]
        rows = store.outbox_after(store.acked("fleet"), 1)
        if not rows:
            return
        from gateway.wire import SignedBatch

        seq, h, body, sig, kid, head_sig = rows[0]
        self.inflight[name] = (seq, h, time.time())
        self.client.publish(f"{PREFIX}/{name}/batch", SignedBatch(body=body, sig=sig, kid=kid,
                                                                  head_sig=head_sig).envelope(), qos=1)

    def _on_ack(self, _c: Any, _u: Any, msg: Any) -> None:
        name = msg.topic.split("/")[-2]
        try:
            ack = json.loads(msg.payload)
        except ValueError:
            return
        with self.lock:
            fl = self.inflight.get(name)
            if fl is None or ack.get("hash") != fl[1]:
                return
            del self.inflight[name]
            store = self.stores[name]
            if ack.get("status") in ("accepted", "duplicate"):
                store.set_acked("fleet", fl[0], ack["status"])
                created = store.db.execute("SELECT created, n_records FROM outbox WHERE seq = ?", (fl[0],)).fetchone()
                start = self.since if self.since is not None else created[0]
                self.latencies.append(time.time() - start)
                self.acked += 1
                self.records_acked += int(created[1])
                self.ahead[name] -= 1
            else:
                code = str(ack.get("code"))
                self.rejected[code] = self.rejected.get(code, 0) + 1
                if code == "out_of_order" and isinstance(ack.get("resend_from"), int):
                    store.db.execute("UPDATE acks SET seq=? WHERE destination='fleet'", (ack["resend_from"] - 1,))
            self._next(name)

    def kick(self) -> None:
        with self.lock:
            for name in self.names:
                self._next(name)

    def resend_stuck(self) -> None:
        """No verdict within the timeout: send the same bytes again (the receiver dedupes)."""
        now = time.time()
        with self.lock:
            for name, (_seq, _h, at) in list(self.inflight.items()):
                if now - at > self.timeout_s:
                    del self.inflight[name]
                    self.resends += 1
                    self._next(name)

    def produce_owed(self, ahead: int) -> int:
        """Sign the next owed window of every gateway fewer than ``ahead`` batches ahead of its acks,
        and send it if the gateway is idle; returns how many windows were signed."""
        made = 0
        for name in self.names:
            if self.owed[name] > 0 and self.ahead[name] < ahead:
                t0 = time.perf_counter()
                with self.lock:
                    self.produce(name)
                    self.owed[name] -= 1
                    self._next(name)
                self.produce_s += time.perf_counter() - t0
                made += 1
        return made

    def pending_fast(self) -> int:
        """``pending`` from the in-memory counts (no query per gateway): the drain loop's condition."""
        with self.lock:
            return sum(self.ahead.values()) + 2 * sum(self.owed.values())

    def pending(self) -> int:
        return sum(s.outbox_head() - s.acked("fleet") for s in self.stores.values()) + 2 * sum(self.owed.values())

    def take_stats(self) -> dict[str, Any]:
        with self.lock:
            out = {"latencies": self.latencies, "acked": self.acked, "records": self.records_acked,
                   "rejected": dict(self.rejected), "resends": self.resends, "pending": self.pending(),
                   "produce_s": self.produce_s}
            self.latencies, self.acked, self.records_acked, self.rejected, self.resends = [], 0, 0, {}, 0
            self.produce_s = 0.0
        return out


def worker(conn: Any, base: str, names: list[str], broker: tuple[str, int]) -> None:
    fleet = Fleet(Path(base), names, broker)
    while True:
        cmd, arg = conn.recv()
        if cmd == "setup":
            fleet.setup(arg["url"], arg["tokens"])
            conn.send("ok")
        elif cmd == "steady":  # produce one period's batches spread over the period, sending live
            fleet.online, fleet.since = True, None
            t_end = time.monotonic() + arg["period_s"]
            for i, name in enumerate(fleet.names):
                # spread the gateways over the period, as real windows close at different offsets
                delay = (t_end - arg["period_s"] + arg["period_s"] * i / len(fleet.names)) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                with fleet.lock:
                    fleet.produce(name)
                    fleet._next(name)
            conn.send("ok")
        elif cmd == "offline":  # sign the first windows of the backlog now, owe the rest
            fleet.online = False
            first = min(arg["windows"], arg["presign"])
            for _ in range(first):
                for name in fleet.names:
                    fleet.produce(name)
            for name in fleet.names:
                fleet.owed[name] = arg["windows"] - first
            conn.send(fleet.pending())
        elif cmd == "online":
            with fleet.lock:
                fleet.online, fleet.since = True, arg["since"]
            fleet.kick()
            conn.send("ok")
        elif cmd == "wait_drained":
            deadline = time.monotonic() + arg["timeout_s"]
            last_check = time.monotonic()
            while fleet.pending_fast() > 0 and time.monotonic() < deadline:
                if not fleet.produce_owed(arg.get("ahead", 4)):
                    time.sleep(0.05)
                if time.monotonic() - last_check > 0.2:
                    fleet.resend_stuck()
                    last_check = time.monotonic()
            conn.send(fleet.pending())
        elif cmd == "stats":
            conn.send(fleet.take_stats())
        elif cmd == "heads":
            conn.send({n: (s.outbox_head(), s.acked("fleet")) for n, s in fleet.stores.items()})
        elif cmd == "stop":
            fleet.client.disconnect()
            fleet.client.loop_stop()
            for s in fleet.stores.values():
                s.close()
            conn.send("ok")
            return


# -- the receivers, the broker, the database --------------------------------------------------------

def peak_rss_mb(pids: list[int]) -> float | None:
    """The largest peak resident set (VmHWM) among these processes, MB: the bench's memory bound."""
    peaks = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except (OSError, ValueError, IndexError):
            pass
    return round(max(peaks), 1) if peaks else None


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def pg_pids(data_dir: Path) -> list[int]:
    """The postmaster and its children (backends, WAL writer, checkpointer)."""
    try:
        master = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [master]
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    pids.append(int(p.name))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def start_mosquitto(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    from tests.support.processes import MOSQUITTO, free_port, wait_port

    port = free_port()
    conf = work / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
             "max_inflight_messages 1000", "max_queued_messages 100000"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_receivers(k: int, url: str, key: Path, broker: int, work: Path,
                    extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    group = f"fleet-{uuid.uuid4().hex[:6]}"
    out = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for i in range(k):
        ready = work / f"ready-{group}-{i}.json"
        log = open(work / f"serve-{group}-{i}.log", "wb")  # noqa: SIM115 - closed in stop_receivers
        proc = subprocess.Popen([sys.executable, "-m", "cloud_stub", "serve", "--db", url, "--key", str(key),
                                 "--port", "0", "--ready-file", str(ready), "--mqtt", f"127.0.0.1:{broker}",
                                 "--mqtt-share-group", group, "--fleet-check-every", "0", *extra],
                                stderr=log, env=env, cwd=ROOT)
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cloud serve did not start: see {log.name}")
            time.sleep(0.1)
        out.append({"proc": proc, "log": log, "url": json.loads(ready.read_text())["url"],
                    "log_path": work / f"serve-{group}-{i}.log"})
    deadline = time.monotonic() + 30
    while not all('"mqtt_connect"' in r["log_path"].read_text() for r in out):
        if time.monotonic() > deadline:
            raise RuntimeError("receivers did not subscribe")
        time.sleep(0.1)
    time.sleep(0.3)
    return out


def stop_receivers(recs: list[dict[str, Any]]) -> None:
    for r in recs:
        r["proc"].terminate()
        r["proc"].wait(timeout=30)
        r["log"].close()


# -- the run ---------------------------------------------------------------------------------------

def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 3)


def collect(pipes: list[Any]) -> dict[str, Any]:
    for p in pipes:
        p.send(("stats", None))
    parts = [p.recv() for p in pipes]
    lat = [x for s in parts for x in s["latencies"]]
    rej: dict[str, int] = {}
    for s in parts:
        for c, n in s["rejected"].items():
            rej[c] = rej.get(c, 0) + n
    return {"latencies": lat, "batches": sum(s["acked"] for s in parts), "records": sum(s["records"] for s in parts),
            "rejected": rej, "resends": sum(s["resends"] for s in parts), "pending": sum(s["pending"] for s in parts),
            "produce_s": sum(s.get("produce_s", 0.0) for s in parts)}


def phase_result(name: str, k: int, stats: dict[str, Any], seconds: float, cpu: dict[str, float],
                 **extra: Any) -> dict[str, Any]:
    recs = stats["records"]
    cpu_recv, cpu_pg = cpu["receivers"], cpu["postgres"]
    return {"phase": name, "k": k, "seconds": round(seconds, 2), "batches": stats["batches"], "records": recs,
            "records_per_s": round(recs / seconds, 1) if seconds else None,
            "batches_per_s": round(stats["batches"] / seconds, 1) if seconds else None,
            "p50_s": pct(stats["latencies"], 0.5), "p99_s": pct(stats["latencies"], 0.99),
            "cpu_receivers_s_per_1k_records": round(1000 * cpu_recv / recs, 3) if recs else None,
            "cpu_postgres_s_per_1k_records": round(1000 * cpu_pg / recs, 3) if recs else None,
            "cpu_gateways_s_per_1k_records": round(1000 * cpu["gateways"] / recs, 3) if recs else None,
            "cpu_broker_s_per_1k_records": round(1000 * cpu["broker"] / recs, 3) if recs else None,
            "cpu_all_cores_busy_share": round(sum(cpu.values()) / seconds / (os.cpu_count() or 1), 2),
            "not_acknowledged": stats["pending"], "rejected": stats["rejected"], "resends": stats["resends"], **extra}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cloud_stub import receiver_key
    from cloud_stub.db_postgres import PostgresDB
    from cloud_stub.enrollment import issue_token
    from tests.support.postgres import ThrowawayPostgres

    work = Path(tempfile.mkdtemp(prefix="edgeproof-fleet-"))
    pg = ThrowawayPostgres().start(max_connections="200")
    mosq, broker = start_mosquitto(work)
    ctx = multiprocessing.get_context("spawn")
    procs, pipes, recs = [], [], []
    results: list[dict[str, Any]] = []
    t_start = time.monotonic()
    try:
        url = pg.create_database("fleet")
        key = work / "receiver.key"
        receiver_key.load_or_create(key)
        names = [f"gw-{i:04d}" for i in range(args.gateways)]
        per = max(1, -(-len(names) // args.workers))
        recs = start_receivers(1, url, key, broker, work, tuple(args.receiver_arg))
        rdb = PostgresDB(url)
        # One factory per enterprise by default, as the fleet is: ingest locks the enterprise's row
        # (record ids in commit order per enterprise), so one enterprise for every gateway would
        # serialise all receivers on one lock.
        tokens = [issue_token(rdb, f"{ENT}-{i // args.gateways_per_enterprise:04d}")["token"]
                  for i in range(len(names))]
        for w in range(0, len(names), per):
            a, b = ctx.Pipe()
            p = ctx.Process(target=worker, args=(b, str(work / "gw"), names[w:w + per], ("127.0.0.1", broker)))
            p.start()
            procs.append(p)
            pipes.append(a)
            a.send(("setup", {"url": recs[0]["url"], "tokens": tokens[w:w + per]}))
        for a in pipes:
            a.recv()
        print(f"{len(names)} gateways enrolled in {time.monotonic() - t_start:.1f} s "
              f"({len(pipes)} worker processes)", flush=True)
        for k in args.receivers:
            if len(recs) != k:
                stop_receivers(recs)
                recs = start_receivers(k, url, key, broker, work, tuple(args.receiver_arg))
            rpids = [r["proc"].pid for r in recs]

            def cpu_now() -> dict[str, float]:
                return {"receivers": cpu_s(rpids), "postgres": cpu_s(pg_pids(pg.data)),  # noqa: B023
                        "gateways": cpu_s([p.pid for p in procs if p.pid]), "broker": cpu_s([mosq.pid])}

            def cpu_since(c0: dict[str, float]) -> dict[str, float]:
                now = cpu_now()
                return {k2: now[k2] - c0[k2] for k2 in now}

            # steady
            collect(pipes)
            c0, t0 = cpu_now(), time.monotonic()
            for _ in range(args.periods):
                for a in pipes:
                    a.send(("steady", {"period_s": args.period_s}))
                for a in pipes:
                    a.recv()
            for a in pipes:
                a.send(("wait_drained", {"timeout_s": 120}))
            [a.recv() for a in pipes]
            secs = time.monotonic() - t0
            stats = collect(pipes)
            r = phase_result("steady", k, stats, secs, cpu_since(c0),
                             offered_batches_per_s=round(2 * len(names) / args.period_s, 1))
            results.append(r)
            print(json.dumps(r), flush=True)
            # outage: sign the backlog offline, then everyone reconnects at once
            windows = int(args.backlog_hours * 4)
            for a in pipes:
                a.send(("offline", {"windows": windows, "presign": args.presign_windows}))
            backlog = sum(a.recv() for a in pipes)
            c0, t0 = cpu_now(), time.monotonic()
            since = time.time()
            for a in pipes:
                a.send(("online", {"since": since}))
            [a.recv() for a in pipes]
            for a in pipes:
                a.send(("wait_drained", {"timeout_s": args.drain_timeout_s, "ahead": args.ahead}))
            left = sum(a.recv() for a in pipes)
            secs = time.monotonic() - t0
            stats = collect(pipes)
            r = phase_result("outage", k, stats, secs, cpu_since(c0),
                             peak_rss_mb={"gateway_worker": peak_rss_mb([p.pid for p in procs if p.pid]),
                                          "receiver": peak_rss_mb(rpids)},
                             backlog_batches=backlog, drained=left == 0, drain_s=round(secs, 1) if left == 0 else None,
                             backlog_hours=args.backlog_hours, presigned_windows=min(windows, args.presign_windows),
                             gateways_signing_in_drain_s=round(stats["produce_s"], 1))
            results.append(r)
            print(json.dumps(r), flush=True)
        # lost or doubled: what every gateway holds vs what the database holds
        for a in pipes:
            a.send(("heads", None))
        heads: dict[str, tuple[int, int]] = {}
        for a in pipes:
            heads.update(a.recv())
        with rdb.read() as conn:
            stored = dict(conn.execute("SELECT id, last_seq FROM gateways").fetchall())
            n, distinct = conn.execute("SELECT count(*), count(DISTINCT (batch_hash, idx)) FROM records").fetchone()
            nb, nbd = conn.execute("SELECT count(*), count(DISTINCT (gateway_id, seq)) FROM batches").fetchone()
        rdb.close()
        integrity = {"gateways": len(heads),
                     "lost_batches": sum(max(0, h - stored.get(g, 0)) for g, (h, _a) in heads.items()),
                     "unacknowledged": sum(h - a for h, a in heads.values()),
                     "doubled_records": n - distinct, "doubled_batches": nb - nbd, "records": n, "batches": nb}
    finally:
        for a in pipes:
            try:
                a.send(("stop", None))
                a.recv()
            except (OSError, EOFError):
                pass
        for p in procs:
            p.join(timeout=30)
        stop_receivers(recs)
        mosq.terminate()
        mosq.wait(timeout=10)
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    by = {(r["phase"], r["k"]): r for r in results}
    scaling = {ph: round(by[(ph, 2)]["records_per_s"] / by[(ph, 1)]["records_per_s"], 2)
               for ph in ("steady", "outage") if (ph, 1) in by and (ph, 2) in by and by[(ph, 1)]["records_per_s"]}
    return {"bench": "fleet_load", "gateways": args.gateways, "receivers": args.receivers, "workers": args.workers,
            "period_s": args.period_s,
            "gateways_per_enterprise": args.gateways_per_enterprise,
            "periods": args.periods, "backlog_hours": args.backlog_hours, "results": results,
            "k2_over_k1_records_per_s": scaling, "integrity": integrity,
            "machine": {"cpus": os.cpu_count(), "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
            "command": "bench/fleet_load.py " + " ".join(a for i, a in enumerate(sys.argv[1:]) if a != "--json-out"
                                                         and (i == 0 or sys.argv[i] != "--json-out")),
            "commit": _commit(), "receiver_args": list(args.receiver_arg),
            "total_s": round(time.monotonic() - t_start, 1),
            "when": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}


# -- the table --------------------------------------------------------------------------------------

def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except OSError:
        return None


def _heading(res: dict[str, Any]) -> str:
    commit = f", commit {res['commit']}" if res.get("commit") else ""
    return (f"`{res['command']}` ({res['when']}{commit}, {res['machine']['cpus']} CPUs, load average at the end "
            f"{res['machine']['loadavg_at_end']}): {res['gateways']} gateways "
            f"({res.get('gateways_per_enterprise', 'all')} per enterprise), steady = {res['periods']} periods of "
            f"{res['period_s']} s (15 min compressed), outage = {res['backlog_hours']} h backlog.")


def _row(label: str, r: dict[str, Any]) -> str:
    drain = r.get("drain_s") if r["phase"] == "outage" else "-"
    return (f"| {label}{r['phase']} | {r['k']} | {r['records']:,} | {r['records_per_s']} | {r['batches_per_s']} | "
            f"{r['p50_s']} | {r['p99_s']} | {drain if drain is not None else 'not drained'} | "
            f"{r['cpu_receivers_s_per_1k_records']} + {r['cpu_postgres_s_per_1k_records']} "
            f"(+ {r.get('cpu_gateways_s_per_1k_records')} + {r.get('cpu_broker_s_per_1k_records')}) | "
            f"{r.get('cpu_all_cores_busy_share')} | {r['not_acknowledged']} | {r['rejected'] or 0} |")


def table(res: dict[str, Any]) -> str:
    """The docs block: the embedded ``baseline`` run (``--baseline``), this run, then the embedded ``also``
    runs (``--also``), each under its own heading, in one table."""
    runs = ([res["baseline"]] if res.get("baseline") else []) + [res] + list(res.get("also") or [])
    many = len(runs) > 1
    label = (lambda run: f"{run.get('label', 'this run')}: ") if many else (lambda _run: "")
    lines = []
    for run in runs:
        lines += [f"{label(run)}{_heading(run)}", ""]
    lines += ["| phase | K | records | records/s | batches/s | p50 s | p99 s | drain s | "
              "CPU s / 1k rec: receivers + PostgreSQL (+ gateways + broker) | CPUs busy | not acked | rejected |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        lines += [_row(label(run), r) for r in run["results"]]
    for run in runs:
        i = run["integrity"]
        scaling = run["k2_over_k1_records_per_s"] or f"- (K={', '.join(str(k) for k in run.get('receivers', []))} only)"
        peaks = [f"K={r['k']}: gateway worker {r['peak_rss_mb']['gateway_worker']} MB, receiver "
                 f"{r['peak_rss_mb']['receiver']} MB" for r in run["results"] if r.get("peak_rss_mb")]
        lines += ["", f"{label(run)}K=2 / K=1 records/s: {scaling}. Integrity: "
                  f"{i['lost_batches']} batches lost, {i['unacknowledged']} unacknowledged, {i['doubled_records']} "
                  f"records and {i['doubled_batches']} batches doubled ({i['batches']:,} batches, "
                  f"{i['records']:,} records stored)."
                  + (f" Peak RSS after the drain: {'; '.join(peaks)}." if peaks else "")]
    return "\n".join(lines)


def write_docs(res: dict[str, Any]) -> None:
    write_block("fleet_load", table(res), (ROOT / "docs" / "benchmarks.md",))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="50 gateways, 4 h backlog, 2 workers: a quick run")
    ap.add_argument("--gateways", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None, help="gateway processes (default: 8; --small: 2)")
    ap.add_argument("--receivers", default="1,2", help="K values, comma-separated (default 1,2)")
    ap.add_argument("--period-s", type=float, default=None, help="one 15-minute period in real seconds")
    ap.add_argument("--periods", type=int, default=3)
    ap.add_argument("--gateways-per-enterprise", type=int, default=1,
                    help="gateways sharing one enterprise (default 1: one factory each)")
    ap.add_argument("--backlog-hours", type=float, default=None)
    ap.add_argument("--drain-timeout-s", type=float, default=1800.0)
    ap.add_argument("--presign-windows", type=int, default=8,
                    help="outage windows each gateway signs before the reconnect; the rest are signed in the drain")
    ap.add_argument("--ahead", type=int, default=4, help="in the drain, batches signed ahead of a gateway's acks")
    ap.add_argument("--receiver-arg", action="append", default=[], metavar="ARG",
                    help="an option for every cloud serve, e.g. --receiver-arg=--mqtt-group-max=1 (repeatable)")
    ap.add_argument("--label", default=None, help="what this run is, in the docs table (with --baseline)")
    ap.add_argument("--baseline", default=None, metavar="JSON", help="an earlier run shown above this one")
    ap.add_argument("--baseline-label", default="before")
    ap.add_argument("--also", action="append", default=[], metavar="JSON=LABEL",
                    help="a later run shown below this one (repeatable)")
    ap.add_argument("--json-out", default=str(ROOT / "bench" / "results" / "fleet_load.json"))
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--render", default=None, metavar="JSON", help="only render a saved result")
    args = ap.parse_args()
    if args.render:
        res = json.loads(Path(args.render).read_text())
    else:
        args.gateways = args.gateways or (50 if args.small else 1000)
        args.workers = args.workers or (2 if args.small else 8)
        args.period_s = args.period_s or (5.0 if args.small else 30.0)
        args.backlog_hours = args.backlog_hours if args.backlog_hours is not None else (4.0 if args.small else 24.0)
        args.receivers = [int(x) for x in str(args.receivers).split(",")]
        res = run(args)
        if args.label:
            res["label"] = args.label
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(res, indent=1) + "\n")
    if args.baseline or args.also:
        # what the docs table shows is the saved result: the embedded runs are saved with it
        def embed(path: str, label: str) -> dict[str, Any]:
            run = json.loads(Path(path).read_text())
            for k in ("baseline", "also"):
                run.pop(k, None)
            return {**run, "label": label, "file": path}

        if args.baseline:
            res["baseline"] = embed(args.baseline, args.baseline_label)
        if args.also:
            res["also"] = [embed(*spec.split("=", 1)) for spec in args.also]
        if args.label:
            res["label"] = args.label
        Path(args.json_out).write_text(json.dumps(res, indent=1) + "\n")
    print(table(res))
    if args.write_docs:
        write_docs(res)


if __name__ == "__main__":
    main()
