"""Moving a SQLite receiver to PostgreSQL (`edgeproof cloud move-store`): how long per million records.

Fills a SQLite receiver through the real ingest path (``--records`` indicator records in
500-record signed batches; not measured), then runs ``cloud_stub.store_move.move_store``
into an empty database of a throwaway PostgreSQL server started like the tests'
(tests/support/postgres.py): the copy (COPY for every table) plus the proof (every row read
back from PostgreSQL and digested, as from SQLite). Prints wall time, records per second,
and the peak RSS of the moving process (the fill runs in a child process; the move streams,
so its memory should not grow with the size of the database).

    .venv/bin/python bench/store_move.py [--records 1000000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nacl.signing import SigningKey  # noqa: E402
from receiver_ingest import make_batches  # noqa: E402

from cloud_stub.db import ReceiverDB  # noqa: E402
from cloud_stub.enrollment import enroll, issue_token  # noqa: E402
from cloud_stub.ingest import ingest  # noqa: E402
from cloud_stub.store_move import move_store  # noqa: E402
from gateway import wire  # noqa: E402


def fill(path: Path, n_records: int) -> float:
    key = SigningKey.generate()
    rdb = ReceiverDB(path, synchronous="OFF")
    try:
        token = issue_token(rdb, "ent-bench")["token"]
        enroll(rdb, token, "gw-bench", wire.b64(bytes(key.verify_key)),
               wire.b64(wire.sign_enrollment(token, "gw-bench", key)))
        t0 = time.perf_counter()
        for env in make_batches(key, n_records, 500):
            if ingest(rdb, env).status != "accepted":
                raise SystemExit("fill: a batch was not accepted")
        return time.perf_counter() - t0
    finally:
        rdb.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    args = ap.parse_args()
    logging.disable(logging.INFO)
    from tests.support.postgres import ThrowawayPostgres

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "receiver.db"
        # Filled in a child process, so this process's peak RSS is the move's own.
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            filled = pool.submit(fill, src, args.records).result()
        size = src.stat().st_size + sum(p.stat().st_size for p in Path(d).glob("receiver.db-*"))
        print(f"filled {args.records:,} records ({size / 1e6:,.0f} MB) in {filled:.1f} s (not measured)")
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        server = ThrowawayPostgres().start()
        try:
            url = server.create_database()
            t0 = time.perf_counter()
            out = move_store(src, url)
            elapsed = time.perf_counter() - t0
        finally:
            server.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = out["tables"]["records"]["rows"]
    print(f"moved {n:,} records ({out['tables']['batches']['rows']:,} batches) and proved the copy in "
          f"{elapsed:.1f} s: {n / elapsed:,.0f} records/s; peak RSS {rss:.0f} MB (before the move {rss0:.0f} MB)")
    print(json.dumps({"bench": "store_move", "records": n, "seconds": round(elapsed, 2),
                      "records_per_s": round(n / elapsed), "peak_rss_mb": round(rss), "rss_before_mb": round(rss0)}))


if __name__ == "__main__":
    main()
