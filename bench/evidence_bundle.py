"""Evidence bundles (`edgeproof cloud evidence export` / `edgeproof evidence verify`): time and memory.

Fills a SQLite receiver through the real ingest path (``--records`` indicator records in ``--batch``-record
signed batches of one gateway; not measured), then exports the enterprise's bundle (no TSA) and verifies it
offline. Prints the bundle size, both times and the process's peak RSS (the bundle is built in memory).

    .venv/bin/python bench/evidence_bundle.py [--records 100000] [--batch 500]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "cloud")]

from cloud_helpers import FakeGateway, indicator  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402

from cloud_stub.db import ReceiverDB  # noqa: E402
from cloud_stub.enrollment import enroll, issue_token  # noqa: E402
from cloud_stub.evidence_bundle import export_bundle  # noqa: E402
from cloud_stub.ingest import ingest  # noqa: E402
from gateway.evidence_verify import verify_bundle  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rdb = ReceiverDB(f"{d}/r.db", synchronous="OFF")
        gw = FakeGateway()
        req = gw.enroll_request(issue_token(rdb, gw.enterprise)["token"])
        enroll(rdb, req["token"], req["gateway_id"], req["public_key"], req["proof"])
        batches = max(1, args.records // args.batch)
        for i in range(batches):
            recs = [indicator(i * args.batch + j) for j in range(args.batch)]
            assert ingest(rdb, gw.next(recs).envelope(), "bench").status == "accepted"
        t0 = time.perf_counter()
        export_bundle(rdb, gw.enterprise, f"{d}/b.tar", key=SigningKey.generate())
        t_export = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = verify_bundle(f"{d}/b.tar")
        t_verify = time.perf_counter() - t0
        size = os.path.getsize(f"{d}/b.tar")
        rdb.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{batches * args.batch} records in {batches} batches: bundle {size / 1e6:.1f} MB, export {t_export:.2f} s,"
          f" verify {t_verify:.2f} s ({'ok' if res.ok else 'FAILED'}), peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
