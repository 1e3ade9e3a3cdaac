"""kill -9, repeatedly, while the gateway produces: nothing acknowledged is lost, nothing is doubled.

"Acknowledged" means: a reading or indicator the gateway had committed (visible to another
process reading the store), and a batch the receiver had acknowledged.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import PROFILE
from tests.support.processes import ReceiverProc, gateway_env


def start_gateway(state: Path) -> subprocess.Popen[bytes]:
    log = open(state / "gateway.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--profile", str(PROFILE),
                             "--state", str(state)], stdout=log, stderr=subprocess.STDOUT, env=gateway_env())


def snapshot(db: Path) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        max_rowid, n = con.execute("SELECT COALESCE(MAX(rowid), 0), COUNT(*) FROM readings").fetchone()
        inds = set(con.execute("SELECT name, subject, window_start, window_len, value FROM indicators"))
        outbox = dict(con.execute("SELECT seq, hash FROM outbox"))
        acked = con.execute("SELECT COALESCE(MAX(seq), 0) FROM acks").fetchone()[0]
    finally:
        con.close()
    return {"max_rowid": max_rowid, "n": n, "indicators": inds, "outbox": outbox, "acked": acked}


def _wait_for_boot(db: Path, boot: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                row = con.execute("SELECT value FROM meta WHERE key='boot'").fetchone()
                con.close()
                if row is not None and int(row[0]) >= boot:
                    return
            except sqlite3.OperationalError:
                pass  # the schema is being created
        time.sleep(0.1)
    raise AssertionError(f"the gateway did not reach boot {boot} within {timeout} s")


def test_repeated_sigkill_loses_nothing_acknowledged(receiver_proc: ReceiverProc, enrolled_state: Path) -> None:
    db = enrolled_state / "edgeproof.db"
    rng = random.Random(7)
    kills = 0
    for i in range(5):
        proc = start_gateway(enrolled_state)
        _wait_for_boot(db, i + 1)  # started (on a busy machine that takes a while), then killed at a random point
        time.sleep(rng.uniform(0.5, 2.0))
        before = snapshot(db) if db.exists() else None
        time.sleep(rng.uniform(0.0, 0.3))  # kill at an arbitrary point after the snapshot
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        kills += 1
        if before is None:
            continue
        after = snapshot(db)
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = con.execute("SELECT COUNT(*) FROM readings WHERE rowid <= ?", (before["max_rowid"],)).fetchone()[0]
        con.close()
        assert kept == before["n"], "committed readings lost"
        assert before["indicators"] <= after["indicators"], "committed indicators lost or changed"
        for seq, h in before["outbox"].items():
            assert after["outbox"][seq] == h, "a signed batch changed after a crash"
        assert after["acked"] >= before["acked"]
    assert kills == 5
    # A last clean run drains the outbox.
    head_before = max(snapshot(db)["outbox"] or [0])
    proc = start_gateway(enrolled_state)
    deadline = time.time() + 30
    while time.time() < deadline:  # until this run made and delivered batches of its own
        s = snapshot(db)
        if s["outbox"] and max(s["outbox"]) > head_before + 1 and s["acked"] == max(s["outbox"]):
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    final = snapshot(db)
    assert final["acked"] == max(final["outbox"])
    con = sqlite3.connect(db)
    boots = int(con.execute("SELECT value FROM meta WHERE key='boot'").fetchone()[0])
    con.close()
    assert boots == 6
    bank = receiver_proc.bank_token()
    records = receiver_proc.feed(bank)
    keys = [(r["record"]["name"], r["record"]["subject"], r["record"]["window"]["start"]) for r in records]
    assert len(keys) == len(set(keys)), "the receiver holds a duplicate"
    assert sorted({r["seq"] for r in records}) == sorted(final["outbox"])
    batched = {(n, s, w) for n, s, w, _l, _v in final["indicators"]}
    assert set(keys) <= batched
    v = receiver_proc.verify(bank)
    assert v["failed"] == 0 and v["batches"] == len(final["outbox"])
