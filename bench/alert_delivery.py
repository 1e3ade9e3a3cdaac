"""Alert delivery and /metrics on a SQLite receiver: how fast alerts go out, and what a scrape costs.

1. ``--alerts`` alerts (stored with the real chain rule, cloud_stub/feed_chain.link) are delivered to a
   signed webhook on loopback by ``outbox.deliver_due`` rounds: alerts per second, end to end (queue,
   render, sign, POST, log).
2. Ingest with a channel that never answers (a socket that accepts and stays silent) while the delivery
   worker keeps trying it, against ingest with no channel: records per second both ways.
3. One ``GET /metrics`` scrape with ``--gateways`` gateways, each with ``--batches`` batches: milliseconds.

    .venv/bin/python bench/alert_delivery.py [--alerts 500] [--gateways 1000] [--batches 20]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nacl.signing import SigningKey  # noqa: E402

from cloud_stub import channels, feed_chain, outbox  # noqa: E402
from cloud_stub.db import ReceiverDB, iso, utc_now  # noqa: E402
from cloud_stub.enrollment import enroll, ensure_enterprise, issue_token  # noqa: E402
from cloud_stub.ingest import ingest  # noqa: E402
from cloud_stub.metrics import StoreCollector  # noqa: E402
from gateway import wire  # noqa: E402


class _Sink(BaseHTTPRequestHandler):
    count = 0

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Sink.count += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def _alerts(rdb: ReceiverDB, n: int) -> None:
    now = iso(utc_now())
    with rdb.write() as conn:
        ensure_enterprise(conn, "ent-1")
        for i in range(n):
            detail = {"bench": i}
            prev, h = feed_chain.link(conn, "alert", {"enterprise_id": "ent-1", "kind": "bench", "level": "red",
                                                      "created": now}, detail)
            conn.execute("INSERT INTO alerts (enterprise_id, kind, level, detail, created, dedupe, prev, hash)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ("ent-1", "bench", "red", json.dumps(detail), now,
                                                              f"ent-1/bench/{i}", prev, h))


def delivery_rate(tmp: Path, n: int) -> dict[str, Any]:
    rdb = ReceiverDB(tmp / "d.db")
    key = SigningKey.generate()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    channels.add(rdb, "sink", "webhook", {"url": f"http://127.0.0.1:{server.server_address[1]}/"})
    _alerts(rdb, n)
    t0 = time.perf_counter()
    while _Sink.count < n:
        outbox.deliver_due(rdb, key, outbox.Policy(timeout=5, parallel=4, batch=100))
    seconds = time.perf_counter() - t0
    server.shutdown()
    rdb.close()
    return {"alerts": n, "seconds": round(seconds, 2), "alerts_per_s": round(n / seconds, 1)}


def _signed_batches(gw: str, key: SigningKey, n: int, per: int) -> list[bytes]:
    prev, out = wire.GENESIS_PREV, []
    for seq in range(1, n + 1):
        records = [{"type": "indicator", "name": "energy.kwh", "category": "energy", "subject": "m",
                    "window": {"start": 1764201600 + 900 * (seq * per + i), "len": 900}, "value": 1.0,
                    "unit": "kWh", "q": [], "def": 1} for i in range(per)]
        body = {"v": 1, "gateway": gw, "enterprise": "ent-1", "kid": wire.key_id(bytes(key.verify_key)), "seq": seq,
                "prev": prev, "boot": 1, "created": "2026-11-27T00:00:00.000Z", "clock": {"synced": True},
                "loss": {"polls_failed": 0, "readings_purged_unsent": 0, "batches_dropped": 0}, "records": records}
        batch = wire.sign_body(body, key)
        prev = batch.hash
        out.append(batch.envelope())
    return out


def ingest_with_stuck_channel(tmp: Path, stuck: bool, batches: int = 200, per: int = 100) -> float:
    rdb = ReceiverDB(tmp / f"i{int(stuck)}.db")
    key = SigningKey.generate()
    gkey = SigningKey.generate()
    tok = issue_token(rdb, "ent-1")["token"]
    enroll(rdb, tok, "gw-1", wire.b64(bytes(gkey.verify_key)), wire.b64(wire.sign_enrollment(tok, "gw-1", gkey)))
    envs = _signed_batches("gw-1", gkey, batches, per)
    worker = None
    silent = socket.socket()
    if stuck:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        channels.add(rdb, "stuck", "webhook", {"url": f"http://127.0.0.1:{silent.getsockname()[1]}/"})
        _alerts(rdb, 50)
        worker = outbox.DeliveryWorker(rdb, key, interval=0.05, policy=outbox.Policy(timeout=3, base_delay=0.05))
        worker.start()
        time.sleep(0.2)  # the worker is now blocked on the silent endpoint
    t0 = time.perf_counter()
    for env in envs:
        assert ingest(rdb, env).status == "accepted"
    seconds = time.perf_counter() - t0
    if worker is not None:
        worker.stop()
    silent.close()
    rdb.close()
    return round(batches * per / seconds)


def scrape_cost(tmp: Path, gateways: int, batches: int) -> dict[str, Any]:
    rdb = ReceiverDB(tmp / "m.db", synchronous="OFF")
    now = iso(utc_now())
    with rdb.write() as conn:
        ensure_enterprise(conn, "ent-1")
        for g in range(gateways):
            conn.execute("INSERT INTO gateways (id, enterprise_id, enrolled_at, last_seq, last_hash) VALUES (?, ?, ?,"
                         " ?, ?)", (f"gw-{g}", "ent-1", now, batches, "0" * 64))
            conn.executemany(
                "INSERT INTO batches (hash, gateway_id, enterprise_id, seq, kid, body, sig, record_count, rec_pos,"
                " received) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
                [(f"{g}-{s}", f"gw-{g}", "ent-1", s, "k", b"", b"", now) for s in range(1, batches + 1)])
    collector = StoreCollector(rdb)
    list(collector.collect())  # warm
    t0 = time.perf_counter()
    runs = 5
    for _ in range(runs):
        fams = list(collector.collect())
    ms = (time.perf_counter() - t0) / runs * 1000
    rdb.close()
    series = sum(len(f.samples) for f in fams)
    return {"gateways": gateways, "batches_per_gateway": batches, "scrape_ms": round(ms, 1), "series": series}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=500)
    ap.add_argument("--gateways", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out = {"delivery": delivery_rate(tmp, args.alerts),
               "ingest_records_per_s": {"no_channel": ingest_with_stuck_channel(tmp, False),
                                        "stuck_channel_worker_running": ingest_with_stuck_channel(tmp, True)},
               "metrics_scrape": scrape_cost(tmp, args.gateways, args.batches)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
