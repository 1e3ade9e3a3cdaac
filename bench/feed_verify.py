"""Bank-side verification speed: ``edgeproof feed verify`` against a live receiver.

A receiver (``python -m cloud_stub serve``, its own process) holds ``--records`` indicator
records in ``--batch``-record batches from one gateway, signed with heads (every batch
carries ``head_sig``). Batches alternate between two categories, ``energy`` and
``production``, so a bank granted only ``energy`` sees half the records and gets the other
half as withheld stubs, each with a signed head to check. Two banks verify the whole feed
with the real CLI (``python -m cloud_stub feed verify --json``), each in a child process
whose wall time, CPU time and peak RSS are taken from ``wait4``.

    .venv/bin/python bench/feed_verify.py [--records 100000] [--batch 500]

What it does not include: the receiver's own CPU (it runs on the other core), network
latency (loopback). The figure is the bank's cost of checking a feed end to end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nacl.signing import SigningKey  # noqa: E402
from receiver_ingest import enroll_bench_gateway, ingest_all, make_chain  # noqa: E402

from cloud_stub.banks import add_bank  # noqa: E402
from cloud_stub.db import ReceiverDB  # noqa: E402
from gateway import wire  # noqa: E402
from tests.support.processes import free_port, wait_port  # noqa: E402

CATEGORIES = ("energy", "production")


class History:
    """One gateway's signed history in the receiver's database, which can grow by a day."""

    def __init__(self, db: Path, per_batch: int) -> None:
        self.db, self.per_batch, self.key = db, per_batch, SigningKey.generate()
        self.seq, self.prev, self.records = 0, wire.GENESIS_PREV, 0

    def add(self, n_records: int) -> None:
        envelopes, self.prev = make_chain(self.key, n_records, self.per_batch, self.seq + 1, self.prev,
                                          self.records, CATEGORIES)
        rdb = ReceiverDB(self.db)
        try:
            if self.seq == 0:
                enroll_bench_gateway(rdb, self.key)
            ingest_all(rdb, envelopes)
        finally:
            rdb.close()
        self.seq += len(envelopes)
        self.records += n_records

    def banks(self) -> dict[str, str]:
        rdb = ReceiverDB(self.db)
        try:
            return {"all categories": add_bank(rdb, "bank-all", "ent-bench")["token"],
                    "energy only": add_bank(rdb, "bank-energy", "ent-bench", "energy")["token"]}
        finally:
            rdb.close()


def verify(url: str, token: str, *extra: str) -> tuple[dict, float, float, int]:
    """Run the real CLI in a child; returns (summary, wall s, CPU s, peak RSS KiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cloud_stub", "feed", "verify", "--url", url,
                             "--token", token, "--enterprise", "ent-bench", "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"feed verify exited {proc.returncode}: {err.decode()[-2000:]}{out.decode()[-2000:]}")
    summary = json.loads(out)
    return summary, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--day", type=int, default=1_000, help="records added before the incremental run")
    args = ap.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "receiver.db"
        t0 = time.perf_counter()
        history = History(db, args.batch)
        history.add(args.records)
        tokens = history.banks()
        print(f"receiver filled with {args.records:,} records in {args.records // args.batch:,} batches "
              f"in {time.perf_counter() - t0:.1f} s (not measured)")
        port = free_port()
        with open(Path(d) / "receiver.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "cloud_stub", "serve", "--db", str(db),
                                       "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=log)
        try:
            wait_port(port, 30)
            for label, token in tokens.items():
                summary, wall, cpu, rss = verify(f"http://127.0.0.1:{port}", token)
                shown = summary["records"]
                print(f"{label:<15} {shown:>7,} records shown, {summary['withheld']:>4} batches withheld, "
                      f"{summary['indicators']:,} indicators: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                      f"{shown / wall:,.0f} records/s, peak RSS {rss / 1024:.0f} MB, failed {summary['failed']}")
                print(json.dumps({"bench": "feed_verify", "bank": label, "records": shown,
                                  "withheld": summary["withheld"], "seconds": round(wall, 2),
                                  "cpu_seconds": round(cpu, 2), "records_per_s": round(shown / wall),
                                  "peak_rss_mb": round(rss / 1024, 1), "failed": summary["failed"]}))
            # A bank's daily run: a state file from a full run, one more day, then only the day.
            state = Path(d) / "bank-state.json"
            url, token = f"http://127.0.0.1:{port}", tokens["all categories"]
            verify(url, token, "--state", str(state))
            history.add(args.day)
            summary, wall, cpu, rss = verify(url, token, "--state", str(state))
            print(f"incremental     {summary['records']:>7,} new records of {summary['total_records']:,}: "
                  f"{wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss / 1024:.0f} MB, failed {summary['failed']}")
            print(json.dumps({"bench": "feed_verify", "bank": "all categories, --state", "records": summary["records"],
                              "total_records": summary["total_records"], "seconds": round(wall, 2),
                              "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(rss / 1024, 1),
                              "failed": summary["failed"]}))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
