"""Receiver ingest throughput: indicator records verified + stored per second, on one core.

Calls ``cloud_stub.ingest.ingest`` directly (no HTTP) with 500-record batches signed
beforehand by a real Ed25519 key, into a fresh SQLite file. Each batch is one signature
check, one JSON decode, one chain check and one transaction. Runs once per SQLite
``synchronous`` setting (FULL is the receiver's default: acks survive power loss).

    .venv/bin/python bench/receiver_ingest.py [--records 100000] [--batch 500]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nacl.signing import SigningKey  # noqa: E402

from cloud_stub.db import ReceiverDB  # noqa: E402
from cloud_stub.enrollment import enroll, issue_token  # noqa: E402
from cloud_stub.ingest import ingest  # noqa: E402
from gateway import wire  # noqa: E402

TARGET = 20_000


def make_batches(key: SigningKey, n_records: int, per_batch: int) -> list[bytes]:
    kid = wire.key_id(bytes(key.verify_key))
    prev, out = wire.GENESIS_PREV, []
    for seq, start in enumerate(range(0, n_records, per_batch), start=1):
        records = [
            {"type": "indicator", "name": "energy.kwh", "category": "energy", "subject": f"press-{i % 7}",
             "window": {"start": 1764201600 + 900 * i, "len": 900}, "value": 1.5 + i, "unit": "kWh",
             "q": [], "def": 1}
            for i in range(start, min(start + per_batch, n_records))
        ]
        body = {"v": 1, "gateway": "gw-bench", "enterprise": "ent-bench", "kid": kid, "seq": seq,
                "prev": prev, "boot": 1, "created": "2026-11-27T00:00:00.000Z",
                "clock": {"synced": True, "source": "bench"},
                "loss": {"polls_failed": 0, "readings_purged_unsent": 0, "batches_dropped": 0},
                "records": records}
        batch = wire.sign_body(body, key)
        prev = batch.hash
        out.append(batch.envelope())
    return out


def run(synchronous: str, envelopes: list[bytes], key: SigningKey, n_records: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        rdb = ReceiverDB(Path(d) / "bench.db", synchronous=synchronous)
        token = issue_token(rdb, "ent-bench")["token"]
        enroll(rdb, token, "gw-bench", wire.b64(bytes(key.verify_key)),
               wire.b64(wire.sign_enrollment(token, "gw-bench", key)))
        t0 = time.perf_counter()
        for env in envelopes:
            res = ingest(rdb, env)
            if res.status != "accepted":
                raise SystemExit(f"unexpected {res.to_json()}")
        elapsed = time.perf_counter() - t0
        stored = rdb.conn.execute("SELECT count(*) FROM records").fetchone()[0]
        rdb.close()
    assert stored == n_records, stored
    rate = n_records / elapsed
    print(f"synchronous={synchronous:<6} {n_records} records in {len(envelopes)} batches: {elapsed:.2f} s, "
          f"{rate:,.0f} records/s, {len(envelopes) / elapsed:,.1f} batches/s "
          f"({'meets' if rate >= TARGET else 'BELOW'} the {TARGET:,}/s target)")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    logging.disable(logging.INFO)  # per-batch log lines are not what we measure
    key = SigningKey.generate()
    t0 = time.perf_counter()
    envelopes = make_batches(key, args.records, args.batch)
    print(f"signed {len(envelopes)} batches in {time.perf_counter() - t0:.2f} s (not measured); "
          f"envelope {len(envelopes[0]):,} bytes")
    for sync in ("FULL", "NORMAL"):
        run(sync, envelopes, key, args.records)


if __name__ == "__main__":
    main()
