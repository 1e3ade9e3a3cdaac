"""A gateway upgraded in the field keeps its store: columns added since are added in place,
and batches signed before the upgrade are sent exactly as they were signed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from nacl.signing import SigningKey

from gateway import wire
from gateway.store import Store


def test_an_outbox_from_before_head_signatures_is_upgraded_and_its_batches_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "edgeproof.db"
    Store(path).close()
    con = sqlite3.connect(path)  # what the previous release left: no head_sig column, one batch
    con.execute("ALTER TABLE outbox DROP COLUMN head_sig")
    key = SigningKey(bytes(range(32)))
    kid = wire.key_id(bytes(key.verify_key))
    body = {"v": 1, "gateway": "gw", "enterprise": "ent", "kid": kid, "seq": 1, "prev": wire.GENESIS_PREV,
            "boot": 1, "created": "2026-11-27T00:00:00.000Z", "clock": {"synced": True}, "loss": {}, "records": []}
    old = wire.sign_body(body, key)
    con.execute("INSERT INTO outbox(seq, hash, body, sig, kid, created, n_records, categories) "
                "VALUES (1, ?, ?, ?, ?, 0, 0, '[]')", (old.hash, old.body, old.sig, kid))
    con.commit()
    con.close()

    st = Store(path)
    try:
        ((seq, h, b, sig, k, head_sig),) = st.outbox_after(0)
        assert (seq, h, b, sig, k, head_sig) == (1, old.hash, old.body, old.sig, kid, None)
        env = json.loads(wire.SignedBatch(b, sig, k, head_sig).envelope())
        assert "head_sig" not in env  # sent as it was signed
        body2 = dict(body, seq=2, prev=old.hash)
        new = wire.sign_body(body2, key)
        st.append_batch(2, new.hash, new.body, new.sig, kid, [], [], 0, {}, new.head_sig)
        assert st.outbox_after(1)[0][5] == new.head_sig
    finally:
        st.close()
    Store(path).close()  # a second open finds the column and changes nothing


# The ledgers' tables as gateway/declarations/ledger.py and gateway/disputes/ledger.py created them on
# first use, before they joined the store's schema (issue 18: the store owns its SQL and schema).
_OLD_LEDGER_DDL = {
    "declarations": """
CREATE TABLE IF NOT EXISTS declarations (
    id INTEGER PRIMARY KEY, action TEXT NOT NULL, kind TEXT, start REAL, "end" REAL,
    assets TEXT NOT NULL DEFAULT '[]', note TEXT NOT NULL DEFAULT '', note_token TEXT,
    declared_at REAL NOT NULL, withdraws INTEGER, source TEXT NOT NULL DEFAULT 'cli', ext_id TEXT UNIQUE,
    batch_seq INTEGER)
""",
    "disputes": """
CREATE TABLE IF NOT EXISTS disputes (
    id INTEGER PRIMARY KEY, action TEXT NOT NULL, finding TEXT, finding_id INTEGER, reason TEXT,
    note TEXT NOT NULL DEFAULT '', measures TEXT, made_at REAL NOT NULL, source TEXT NOT NULL DEFAULT 'cli',
    batch_seq INTEGER)
""",
}


def _previous_release_store(path: Path, with_ledgers: bool) -> None:
    """A store as the previous release left it: ledger tables made on first use (with a row each), or none."""
    Store(path).close()
    con = sqlite3.connect(path)
    for table in _OLD_LEDGER_DDL:
        con.execute(f"DROP TABLE {table}")
    if with_ledgers:
        for ddl in _OLD_LEDGER_DDL.values():
            con.execute(ddl)
        con.execute("INSERT INTO declarations(action, kind, start, \"end\", assets, declared_at, batch_seq) "
                    "VALUES('declare', 'holiday', 1000, 2000, '[\"press-1\"]', 900, 7)")
        con.execute("INSERT INTO disputes(action, finding, note, made_at) VALUES('dispute', 'F-1', 'n', 950)")
    con.commit()
    con.close()


def test_ledger_tables_made_on_first_use_are_kept_with_their_rows(tmp_path: Path) -> None:
    from gateway.declarations import ledger as declarations
    from gateway.declarations.model import Declaration
    from gateway.disputes import ledger as disputes

    path = tmp_path / "edgeproof.db"
    _previous_release_store(path, with_ledgers=True)
    con = sqlite3.connect(path)
    before = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE name IN ('declarations', 'disputes')"))
    con.close()
    st = Store(path)
    try:
        (old,) = declarations.rows(st)
        assert (old["kind"], old["assets"], old["batch_seq"]) == ("holiday", ["press-1"], 7)
        assert [(r["finding"], r["batch_seq"]) for r in disputes.rows(st)] == [("F-1", None)]
        assert declarations.pending(st, 10_000) == []  # signed in batch 7 already: not signed again
        new_id = declarations.add(st, Declaration("holiday", 3000.0, 4000.0, ()), declared_at=2500.0)
        assert new_id == 2 and [r["id"] for r in declarations.pending(st, 2600.0)] == [2]
    finally:
        st.close()
    con = sqlite3.connect(path)
    after = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE name IN ('declarations', 'disputes')"))
    con.close()
    assert after == before  # the tables as they were: nothing rebuilt


def test_a_store_without_ledger_tables_gets_them_on_open(tmp_path: Path) -> None:
    from gateway.disputes import ledger as disputes
    from gateway.disputes.model import Dispute

    path = tmp_path / "edgeproof.db"
    _previous_release_store(path, with_ledgers=False)
    st = Store(path)
    try:
        assert disputes.rows(st) == []
        d = Dispute(action="dispute", finding="F-2", finding_id=None, reason=None, note="")
        assert disputes.add_dispute(st, d, at=1000.0) == 1
        assert [r["id"] for r in disputes.pending(st, 2000.0)] == [1]
    finally:
        st.close()
