"""The receiver's database schema: a schema-2 database (before head signatures) is migrated
in place when a newer receiver opens it, keeping every batch; schema 1 is refused by name."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cloud_helpers import FakeGateway

from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import enroll, issue_token
from cloud_stub.ingest import ingest
from cloud_stub.schema import SCHEMA_VERSION
from gateway import wire


def enrolled(rdb, gw: FakeGateway) -> FakeGateway:
    token = issue_token(rdb, gw.enterprise)["token"]
    req = gw.enroll_request(token)
    enroll(rdb, token, gw.gateway_id, req["public_key"], req["proof"])
    return gw


def as_schema_2(path: Path) -> None:
    """Turn a current database into what a schema-2 receiver left (no head_sig column)."""
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE batches DROP COLUMN head_sig")
    for table in ("findings", "alerts"):  # schema 4 hash-chains findings and alerts
        con.execute(f"ALTER TABLE {table} DROP COLUMN prev")
        con.execute(f"ALTER TABLE {table} DROP COLUMN hash")
    con.execute("ALTER TABLE gateway_keys DROP COLUMN protection")  # schema 5 records where each key lives
    con.execute("PRAGMA user_version=2")
    con.commit()
    con.close()


def test_a_schema_2_database_is_migrated_in_place_and_keeps_its_batches(tmp_path: Path) -> None:
    path = tmp_path / "receiver.db"
    rdb = ReceiverDB(path)
    gw = enrolled(rdb, FakeGateway("gw-1", "ent-1"))
    old = [gw.next() for _ in range(3)]
    for b in old:
        assert ingest(rdb, wire.SignedBatch(b.body, b.sig, b.kid).envelope()).status == "accepted"
    rdb.close()
    as_schema_2(path)

    rdb = ReceiverDB(path)
    try:
        with rdb.read() as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
            rows = conn.execute("SELECT seq, hash, head_sig FROM batches ORDER BY seq").fetchall()
            assert conn.execute("SELECT protection FROM gateway_keys").fetchall() == [("file",)]
        assert rows == [(i + 1, b.hash, None) for i, b in enumerate(old)]
        new = gw.next()  # the chain goes on, now with a head signature
        assert ingest(rdb, new.envelope()).status == "accepted"
        with rdb.read() as conn:
            assert conn.execute("SELECT head_sig FROM batches WHERE seq = 4").fetchone()[0] == new.head_sig
        assert ingest(rdb, gw.make(seq=9).envelope()).status == "rejected"  # a gap: a finding, now chained
        with rdb.read() as conn:
            prev, h = conn.execute("SELECT prev, hash FROM findings ORDER BY id DESC LIMIT 1").fetchone()
        assert prev == "0" * 64 and len(h) == 64
    finally:
        rdb.close()
    ReceiverDB(path).close()  # opening a current database again changes nothing


def test_schema_1_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "receiver.db"
    ReceiverDB(path).close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    with pytest.raises(RuntimeError, match="schema version 1, this receiver needs 5.*not migrated"):
        ReceiverDB(path)
