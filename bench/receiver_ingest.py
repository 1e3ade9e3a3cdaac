"""Receiver ingest throughput: indicator records verified + stored per second, on one core.

Calls ``cloud_stub.ingest.ingest`` directly (no HTTP) with 500-record batches signed
beforehand by a real Ed25519 key. Each batch is one signature check, one JSON decode, one
chain check and one transaction. Stores:

* ``sqlite``: a fresh file, once per ``synchronous`` setting (FULL is the receiver's
  default: acks survive power loss; NORMAL for comparison);
* ``postgresql``: a throwaway server started like the tests' (tests/support/postgres.py),
  pinned to the same core as this process so the figure is one core for everything; or an
  existing database with ``--pg-url`` (its server runs wherever it runs). Once with
  ``synchronous_commit=on`` (the default: a commit, hence an ack, waits for the WAL flush)
  and once ``off`` for comparison.

    .venv/bin/python bench/receiver_ingest.py [--store sqlite|postgresql|both] [--records 100000] [--batch 500]
                                              [--pg-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nacl.signing import SigningKey  # noqa: E402

from cloud_stub.db import ReceiverDB, Store  # noqa: E402
from cloud_stub.enrollment import enroll, issue_token  # noqa: E402
from cloud_stub.ingest import ingest  # noqa: E402
from gateway import wire  # noqa: E402

TARGET = 20_000


def make_chain(key: SigningKey, n_records: int, per_batch: int, first_seq: int = 1, prev: str = wire.GENESIS_PREV,
               first_record: int = 0, categories: tuple[str, ...] = ("energy",)) -> tuple[list[bytes], str]:
    """Signed envelopes (with head signatures) continuing one gateway's chain at ``first_seq``
    after ``prev``; batch ``seq`` holds ``categories[seq % len(categories)]``. Returns them and
    the new tip hash."""
    kid = wire.key_id(bytes(key.verify_key))
    out: list[bytes] = []
    for seq, start in enumerate(range(first_record, first_record + n_records, per_batch), start=first_seq):
        cat = categories[seq % len(categories)]
        name, unit = ("energy.kwh", "kWh") if cat == "energy" else (f"{cat}.value", "u")
        records = [
            {"type": "indicator", "name": name, "category": cat, "subject": f"press-{i % 7}",
             "window": {"start": 1764201600 + 900 * i, "len": 900}, "value": 1.5 + i, "unit": unit,
             "q": [], "def": 1}
            for i in range(start, min(start + per_batch, first_record + n_records))
        ]
        body = {"v": 1, "gateway": "gw-bench", "enterprise": "ent-bench", "kid": kid, "seq": seq,
                "prev": prev, "boot": 1, "created": "2026-11-27T00:00:00.000Z",
                "clock": {"synced": True, "source": "bench"},
                "loss": {"polls_failed": 0, "readings_purged_unsent": 0, "batches_dropped": 0},
                "records": records}
        batch = wire.sign_body(body, key)
        prev = batch.hash
        out.append(batch.envelope())
    return out, prev


def make_batches(key: SigningKey, n_records: int, per_batch: int) -> list[bytes]:
    return make_chain(key, n_records, per_batch)[0]


def ingest_all(rdb: Store, envelopes: list[bytes]) -> None:
    """Every envelope through the real ingest; anything but 'accepted' stops the bench."""
    for env in envelopes:
        res = ingest(rdb, env)
        if res.status != "accepted":
            raise SystemExit(f"unexpected {res.to_json()}")


def enroll_bench_gateway(rdb: Store, key: SigningKey) -> None:
    """Enterprise ``ent-bench`` and its gateway ``gw-bench`` (``key``), enrolled as a real gateway is."""
    token = issue_token(rdb, "ent-bench")["token"]
    enroll(rdb, token, "gw-bench", wire.b64(bytes(key.verify_key)),
           wire.b64(wire.sign_enrollment(token, "gw-bench", key)))


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of another local process (the PostgreSQL backend serving us), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(label: str, rdb: Store, envelopes: list[bytes], key: SigningKey, n_records: int,
        server_pid: int | None = None) -> float:
    """Enroll the bench gateway, ingest every envelope, check all were stored; returns records/s.

    Besides wall time it reports records per CPU-second (this process, plus the PostgreSQL
    backend when it runs here): on a shared machine wall time includes other people's work,
    CPU time does not (but also leaves out waiting for fsync, which wall time includes).
    """
    try:
        enroll_bench_gateway(rdb, key)
        cpu0 = time.process_time() + (_proc_cpu_s(server_pid) if server_pid else 0.0)
        t0 = time.perf_counter()
        ingest_all(rdb, envelopes)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() + (_proc_cpu_s(server_pid) if server_pid else 0.0) - cpu0
        with rdb.read() as conn:
            stored = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    finally:
        rdb.close()
    assert stored == n_records, stored
    rate = n_records / elapsed
    print(f"{label:<34} {n_records} records in {len(envelopes)} batches: {elapsed:.2f} s, "
          f"{rate:,.0f} records/s, {len(envelopes) / elapsed:,.1f} batches/s; "
          f"{n_records / cpu:,.0f} records per CPU-second "
          f"({'meets' if rate >= TARGET else 'BELOW'} the {TARGET:,}/s target)")
    print(json.dumps({"bench": "receiver_ingest", "store": label, "records": n_records,
                      "batches": len(envelopes), "seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
                      "records_per_s": round(rate), "records_per_cpu_s": round(n_records / cpu)}))
    return rate


def run_sqlite(envelopes: list[bytes], key: SigningKey, n_records: int) -> None:
    for sync in ("FULL", "NORMAL"):
        with tempfile.TemporaryDirectory() as d:
            run(f"sqlite synchronous={sync}", ReceiverDB(Path(d) / "bench.db", synchronous=sync),
                envelopes, key, n_records)


def run_postgres(envelopes: list[bytes], key: SigningKey, n_records: int, pg_url: str | None) -> None:
    from cloud_stub.db_postgres import PostgresDB

    server = None
    if pg_url is None:
        from tests.support.postgres import ThrowawayPostgres

        server = ThrowawayPostgres().start()  # inherits this process's one-core affinity; fsync on
    try:
        for sync in ("on", "off"):
            url = server.create_database() if server is not None else pg_url
            assert url is not None
            rdb = PostgresDB(url)
            if server is None:  # someone else's database: start from empty tables
                with rdb.write() as conn:
                    conn.execute("TRUNCATE records, batches, findings, gateway_keys, gateways, enroll_tokens,"
                                 " bank_grants, banks, alerts, scores, enterprises")
            with rdb.lock:
                rdb.conn.execute(f"SET synchronous_commit = {sync}")
            backend = rdb.conn.raw.info.backend_pid if server is not None else None
            run(f"postgresql synchronous_commit={sync}", rdb, envelopes, key, n_records, backend)
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg-url", default=None,
                    help="an existing PostgreSQL database to use (its tables are emptied!); default: a throwaway "
                         "server on this core")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    logging.disable(logging.INFO)  # per-batch log lines are not what we measure
    key = SigningKey.generate()
    t0 = time.perf_counter()
    envelopes = make_batches(key, args.records, args.batch)
    print(f"signed {len(envelopes)} batches in {time.perf_counter() - t0:.2f} s (not measured); "
          f"envelope {len(envelopes[0]):,} bytes")
    if args.store in ("sqlite", "both"):
        run_sqlite(envelopes, key, args.records)
    if args.store in ("postgresql", "both"):
        run_postgres(envelopes, key, args.records, args.pg_url)


if __name__ == "__main__":
    main()
