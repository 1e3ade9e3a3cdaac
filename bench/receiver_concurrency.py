"""Ingest while banks read: does a bank pulling pages slow the receiver's ingest, and the reverse?

One process, as ``cloud serve`` runs it (ingest and the feed API share the store): the main
thread ingests ``--records`` indicator records in 500-record batches (``cloud_stub.ingest``)
while ``--readers`` threads page through the same enterprise's records feed from the start
(``feed.feed_page``, 1,000 per page, signed), round after round, until ingest ends. Printed:
ingest records/s alone and with the readers, and the readers' pages/s. Compare builds with
``PYTHONPATH=<other checkout>`` (the script imports from this checkout unless told).

    .venv/bin/python bench/receiver_concurrency.py [--records 100000] [--readers 2] [--store sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nacl.signing import SigningKey  # noqa: E402
from receiver_ingest import enroll_bench_gateway, ingest_all, make_batches  # noqa: E402

from cloud_stub.banks import Grant  # noqa: E402
from cloud_stub.feed import feed_page  # noqa: E402


def open_store(kind: str, tmp: Path, server: object | None):  # noqa: ANN201
    if kind == "sqlite":
        from cloud_stub.db import ReceiverDB

        return ReceiverDB(tmp / f"r-{time.monotonic_ns()}.db")
    from cloud_stub.db_postgres import PostgresDB

    return PostgresDB(server.create_database())  # type: ignore[attr-defined]


def run(rdb, envelopes: list[bytes], key: SigningKey, readers: int, n_records: int) -> dict[str, float]:  # noqa: ANN001
    enroll_bench_gateway(rdb, key)
    grant = Grant("bench", "ent-bench", None)
    rkey = SigningKey.generate()
    stop = threading.Event()
    pages = [0] * readers

    def reader(i: int) -> None:
        cursor = None
        while not stop.is_set():
            page = feed_page(rdb, grant, cursor, 1000, rkey)
            pages[i] += 1
            cursor = page["next_cursor"]  # None at the end: start again from the beginning

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(readers)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    ingest_all(rdb, envelopes)
    elapsed = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join(30)
    return {"ingest_records_per_s": n_records / elapsed, "pages_per_s": sum(pages) / elapsed, "seconds": elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    logging.disable(logging.INFO)
    key = SigningKey.generate()
    envelopes = make_batches(key, args.records, 500)
    server = None
    if args.store == "postgresql":
        from tests.support.postgres import ThrowawayPostgres

        server = ThrowawayPostgres().start()
    try:
        with tempfile.TemporaryDirectory() as d:
            for readers in (0, args.readers):
                rdb = open_store(args.store, Path(d), server)
                try:
                    out = run(rdb, envelopes, key, readers, args.records)
                finally:
                    rdb.close()
                print(f"{args.store:<10} readers={readers}: ingest {out['ingest_records_per_s']:,.0f} records/s, "
                      f"bank pages {out['pages_per_s']:,.1f}/s (1,000 records each) over {out['seconds']:.1f} s")
                print(json.dumps({"bench": "receiver_concurrency", "store": args.store, "readers": readers,
                                  **{k: round(v, 1) for k, v in out.items()}}))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
