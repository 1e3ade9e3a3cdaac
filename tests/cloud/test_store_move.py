"""`edgeproof cloud move-store`: a SQLite receiver with real history moves to a real
PostgreSQL server and carries on there: the chains continue, the bank's feed verifies end
to end, a stored score recomputes identically from the moved rows, and a copy that is not
exact, or a target that is not empty, commits nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cloud_helpers import FakeGateway
from rule_inputs_helpers import DAY0, Factory, build, push, rec

from cloud_stub import receiver_key
from cloud_stub.analysis import analyse, verify_score
from cloud_stub.banks import add_bank
from cloud_stub.db import ReceiverDB
from cloud_stub.feed_verify import verify_feed
from cloud_stub.http_api import create_app
from cloud_stub.ingest import ingest
from cloud_stub.server import Running
from cloud_stub.store_move import TABLES, MoveError, move_store
from gateway import wire
from tests.support.postgres import ThrowawayPostgres, postgres_server  # noqa: F401

psycopg = pytest.importorskip("psycopg")
from cloud_stub.db_postgres import PostgresDB  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DAYS = 21


@pytest.fixture
def sqlite_receiver(tmp_path: Path):
    """21 days of a factory whose MES inflates from day 14 (red findings, an alert), scored and
    granted to two banks (one energy-only), plus a second gateway of an older kind (no head
    signatures) so both stub kinds move."""
    path = tmp_path / "receiver.db"
    key = receiver_key.load_or_create(tmp_path / "receiver.key")
    rdb = ReceiverDB(path, synchronous="OFF")
    gw = build(rdb, Factory(days=DAYS, mes_factor=lambda d: 1.3 if d >= 14 else 1.0))
    old = FakeGateway("gw-old", "ent-1")
    from rule_inputs_helpers import enrolled

    enrolled(rdb, old)
    for cat in ("energy", "machine"):
        b = old.next(records=[rec(f"{cat}.x", cat, "s", DAY0, 3600, 1.0)])
        assert ingest(rdb, wire.SignedBatch(b.body, b.sig, b.kid).envelope()).status == "accepted"
    report = analyse(rdb, "ent-1", as_of=DAY0 + DAYS * 86400, days=DAYS, signing_key=key)
    assert report["warning_level"] == "red"
    tokens = {"all": add_bank(rdb, "bank-all", "ent-1")["token"],
              "energy": add_bank(rdb, "bank-energy", "ent-1", "energy")["token"]}
    rdb.close()
    return {"path": path, "key": key, "gw": gw, "tokens": tokens}


def served(db, key):
    return Running(create_app(db, key))


def test_a_sqlite_receiver_moves_to_postgresql_and_carries_on(sqlite_receiver, postgres_server) -> None:  # noqa: F811
    s = sqlite_receiver
    url = postgres_server.create_database()
    before = {}
    lite = ReceiverDB(s["path"])
    try:
        running = served(lite, s["key"])
        try:
            for name, token in s["tokens"].items():
                before[name] = verify_feed(running.url, "ent-1", token, wire.b64(bytes(s["key"].verify_key)))
                assert before[name]["failures"] == [], before[name]["failures"]
        finally:
            running.stop()
        with lite.read() as conn:
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
            score_id = conn.execute("SELECT max(id) FROM scores").fetchone()[0]
    finally:
        lite.close()

    out = move_store(s["path"], url)
    assert set(out["tables"]) == set(TABLES) and out["tables"]["records"]["rows"] == counts["records"] > 5_000
    assert {t: v["rows"] for t, v in out["tables"].items() if t != "meta"} == {
        t: n for t, n in counts.items() if t != "meta"}

    pg = PostgresDB(url)
    try:
        # The stored score recomputes identically from the moved rows, signature included.
        check = verify_score(pg, score_id, None, bytes(s["key"].verify_key))
        assert check["reproducible"], check["problems"]
        # The banks see and verify exactly what they saw before, signed by the same receiver key.
        running = served(pg, s["key"])
        try:
            for name, token in s["tokens"].items():
                after = verify_feed(running.url, "ent-1", token, wire.b64(bytes(s["key"].verify_key)))
                assert after["failures"] == [], after["failures"]
                same = ("records", "batches", "withheld", "withheld_signed", "scores", "findings", "alerts")
                assert {k: after[k] for k in same} == {k: before[name][k] for k in same}
            assert before["energy"]["withheld_signed"] > 0 and before["energy"]["withheld"] > \
                before["energy"]["withheld_signed"]  # the old gateway's stub moved too
        finally:
            running.stop()
        # The chain goes on on PostgreSQL: the next batch extends the moved head; new ids follow the old.
        gw = s["gw"]
        assert ingest(pg, gw.next(records=[rec("energy.kwh", "energy", "m", DAY0, 3600, 1.0)]).envelope()).status \
            == "accepted"
        with pg.read() as conn:
            assert conn.execute("SELECT max(id) FROM batches").fetchone()[0] == counts["batches"] + 1
        assert ingest(pg, gw.make(seq=1, prev=wire.GENESIS_PREV).envelope()).code == "equivocation"
    finally:
        pg.close()


def test_a_target_that_is_not_empty_is_refused_and_left_as_it_was(sqlite_receiver, postgres_server) -> None:  # noqa: F811
    url = postgres_server.create_database()
    pg = PostgresDB(url)
    try:
        other = FakeGateway("gw-other", "ent-9")
        from rule_inputs_helpers import enrolled

        enrolled(pg, other)
        push(pg, other, [rec("energy.kwh", "energy", "a", DAY0, 3600, 2.0)])
        with pg.read() as conn:
            before = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        pg.close()
    with pytest.raises(MoveError, match="is not empty .*table enterprises has 1 rows"):
        move_store(sqlite_receiver["path"], url)
    pg = PostgresDB(url)
    try:
        with pg.read() as conn:
            assert {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES} == before
    finally:
        pg.close()


def test_the_cli_moves_and_a_failed_move_commits_nothing(sqlite_receiver, postgres_server, tmp_path) -> None:  # noqa: F811
    url = postgres_server.create_database()
    # A copy that cannot be exact: a record value PostgreSQL's bigint column cannot hold.
    broken = tmp_path / "broken.db"
    broken.write_bytes(sqlite_receiver["path"].read_bytes())
    lite = ReceiverDB(broken)
    with lite.write() as conn:
        conn.execute("UPDATE records SET window_start = 'not a number' WHERE id = (SELECT max(id) FROM records)")
    lite.close()
    cmd = [sys.executable, "-m", "gateway.cli", "cloud", "move-store", "--from", str(broken), "--to", url, "--json"]
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert bad.returncode == 1 and "nothing was committed to the target" in bad.stderr, bad.stderr[-2000:]
    pg = PostgresDB(url)
    try:
        with pg.read() as conn:
            assert all(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0 for t in TABLES if t != "meta")
    finally:
        pg.close()
    cmd[cmd.index(str(broken))] = str(sqlite_receiver["path"])
    good = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert good.returncode == 0, good.stderr[-2000:]
    out = json.loads(good.stdout)
    assert out["target"] == url and all(t["rows"] >= 0 and len(t["digest"]) == 64 for t in out["tables"].values())


def test_the_move_knows_every_table_of_the_schema(tmp_path) -> None:
    """A table added to the schema but not to the move would be left behind silently."""
    rdb = ReceiverDB(tmp_path / "r.db")
    try:
        with rdb.read() as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        rdb.close()
    assert names == set(TABLES)
