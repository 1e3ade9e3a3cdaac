"""The receiver on PostgreSQL: the same decisions as on SQLite, and no forked chain between receivers.

Runs against a real throwaway PostgreSQL server (tests/support/postgres.py); each test gets
a fresh database. The SQLite scenario tests for ingest, enrollment and the bank feed are
imported below and run here a second time with the ``rdb`` fixture overridden to PostgreSQL,
so every accept/duplicate/equivocation/chain_broken/gap/out_of_order decision is checked on
both stores by the same assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_receiver_enrollment
import test_receiver_feed
import test_receiver_ingest
from cloud_helpers import FakeGateway, indicator

from cloud_stub.db import open_db
from cloud_stub.enrollment import enroll, issue_token
from cloud_stub.ingest import ingest
from gateway import wire
from tests.support.postgres import ThrowawayPostgres, postgres_server, rerun_on_postgres  # noqa: F401

psycopg = pytest.importorskip("psycopg")

from cloud_stub.db_postgres import PostgresDB, _copy_statement, redact, to_pg  # noqa: E402
from cloud_stub.schema import SCHEMA_VERSION  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# The SQLite scenarios, re-run on PostgreSQL (tests/support/postgres.py: rerun_on_postgres).
# Left out: the SQLite-file race (its twin is test_two_receivers_race_on_every_seq below), the
# key-file test (no database in it), and a test that tampers using SQLite-only SQL (json_set).
rerun_on_postgres(globals(), (test_receiver_ingest, test_receiver_enrollment, test_receiver_feed), skip={
    "test_two_receivers_on_one_database_never_fork_a_chain", "test_receiver_key_file_is_private_and_reused",
    "test_feed_verify_fails_on_altered_or_withheld_records"})


@pytest.fixture
def pg_url(postgres_server: ThrowawayPostgres) -> str:  # noqa: F811
    return postgres_server.create_database()


@pytest.fixture
def rdb(pg_url: str) -> Iterator[PostgresDB]:
    db = PostgresDB(pg_url)
    yield db
    db.close()


def enrolled(rdb: PostgresDB, gw: FakeGateway) -> FakeGateway:
    token = issue_token(rdb, gw.enterprise)["token"]
    req = gw.enroll_request(token)
    enroll(rdb, token, gw.gateway_id, req["public_key"], req["proof"])
    return gw


def test_open_db_picks_the_store_by_target(pg_url: str, tmp_path: Path) -> None:
    pg, lite = open_db(pg_url), open_db(str(tmp_path / "r.db"))
    try:
        assert (pg.dialect, lite.dialect) == ("postgresql", "sqlite")
        with pg.read() as conn:
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            assert version == (str(SCHEMA_VERSION),)
    finally:
        pg.close()
        lite.close()


def test_placeholders_percent_and_types_read_back_as_on_sqlite(rdb: PostgresDB) -> None:
    assert to_pg("SELECT ? , '50% ?', \"a?\" WHERE x LIKE 'p%' AND y = ?") == (
        "SELECT %s , '50%% ?', \"a?\" WHERE x LIKE 'p%%' AND y = %s")
    # plain multi-row inserts go in as COPY; anything with its own semantics stays an INSERT
    assert _copy_statement("INSERT INTO t (a, b) VALUES (?, ?)") == "COPY t (a, b) FROM STDIN"
    assert _copy_statement("INSERT INTO t (a) VALUES (?) ON CONFLICT DO NOTHING") is None
    assert _copy_statement("INSERT INTO t (a, b) VALUES (?, 'x')") is None
    with rdb.write() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("k%?", "it's 100% ?"))
        assert conn.execute("SELECT value FROM meta WHERE key = ? AND value LIKE '%100%'", ("k%?",)).fetchone() == (
            "it's 100% ?",)
        conn.executemany("INSERT INTO enterprises (id, created) VALUES (?, ?)", [("e1", "t"), ("e2", "t")])
        conn.executemany(
            "INSERT INTO batches (hash, gateway_id, enterprise_id, seq, kid, body, sig, record_count, rec_pos,"
            " received, replayed) VALUES (?, 'g', 'e1', ?, 'k', ?, ?, 0, 0, 't', ?)",
            [("h1", 1, b"\x00\xffbody", b"sig", True), ("h2", 2, b"", b"s", False)])
        row = conn.execute("SELECT sum(seq), avg(seq), count(*), sum(replayed) FROM batches").fetchone()
        bodies = conn.execute("SELECT body FROM batches ORDER BY seq").fetchall()
    # numeric from sum/avg comes back as int/float (SQLite's types), bytea as bytes, bool went in as 1/0
    assert row == (3, 1.5, 2, 1) and bodies == [(b"\x00\xffbody",), (b"",)]
    assert [type(v) for v in row[:3]] == [int, float, int]


def test_a_schema_2_database_is_migrated_in_place(rdb: PostgresDB, pg_url: str) -> None:
    gw = enrolled(rdb, FakeGateway("gw-1", "ent-1"))
    b = gw.next()
    assert ingest(rdb, wire.SignedBatch(b.body, b.sig, b.kid).envelope()).status == "accepted"
    with rdb.write() as conn:  # what a schema-2 receiver left
        conn.execute("ALTER TABLE batches DROP COLUMN head_sig")
        for table in ("findings", "alerts"):  # schema 4 hash-chains findings and alerts
            conn.execute(f"ALTER TABLE {table} DROP COLUMN prev")
            conn.execute(f"ALTER TABLE {table} DROP COLUMN hash")
        conn.execute("ALTER TABLE gateway_keys DROP COLUMN protection")  # schema 5 records where a key lives
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    again = PostgresDB(pg_url)
    try:
        with again.read() as conn:
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            assert version == (str(SCHEMA_VERSION),)
            assert conn.execute("SELECT seq, head_sig FROM batches").fetchall() == [(1, None)]
        new = gw.next()
        assert ingest(again, new.envelope()).status == "accepted"
        with again.read() as conn:
            assert conn.execute("SELECT head_sig FROM batches WHERE seq = 2").fetchone()[0] == new.head_sig
    finally:
        again.close()


def test_another_schema_version_is_refused_by_name(rdb: PostgresDB, pg_url: str) -> None:
    with rdb.write() as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(RuntimeError, match=f"schema version 1, this receiver needs {SCHEMA_VERSION}"):
        PostgresDB(pg_url)
    with rdb.write() as conn:
        conn.execute("DROP TABLE meta")
    with pytest.raises(RuntimeError, match="no schema version"):
        PostgresDB(pg_url)


def test_unreachable_server_is_a_clear_error_without_the_password() -> None:
    url = "postgresql://u:s3cret@127.0.0.1:1/nodb"
    with pytest.raises(RuntimeError, match="cannot connect to PostgreSQL") as exc:
        PostgresDB(url, connect_timeout=2)
    assert "s3cret" not in str(exc.value) and redact(url) == "postgresql://u:***@127.0.0.1:1/nodb"


def test_a_dropped_connection_is_replaced(rdb: PostgresDB, pg_url: str) -> None:
    gw = enrolled(rdb, FakeGateway())
    assert ingest(rdb, gw.next().envelope()).status == "accepted"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (rdb.conn.raw.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):  # the statement in flight fails ...
        rdb.conn.execute("SELECT 1")
    assert ingest(rdb, gw.next().envelope()).status == "accepted"  # ... the next transaction reconnects


def test_nul_characters_get_the_same_answer_on_both_stores(rdb: PostgresDB, tmp_path: Path) -> None:
    lite = open_db(str(tmp_path / "r.db"))
    try:
        for db in (rdb, lite):
            gw = enrolled(db, FakeGateway())
            bad = gw.make(records=[{**indicator(0), "subject": "press\x001"}]).envelope()
            env = json.loads(gw.next().envelope())
            env["kid"] = "k\x00"
            answers = [ingest(db, bad).to_json()["code"], ingest(db, json.dumps(env).encode()).to_json()["code"]]
            assert answers == ["bad_body", "bad_envelope"]
    finally:
        lite.close()


def test_two_receivers_race_on_every_seq(rdb: PostgresDB, pg_url: str) -> None:
    """Same bytes at the same moment on two connections: exactly one accepted, the other a duplicate."""
    gw = enrolled(rdb, FakeGateway())
    envelopes = [gw.next(records=[indicator(i)]).envelope() for i in range(30)]
    other = PostgresDB(pg_url)
    results: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def run(db: PostgresDB, out: list[str]) -> None:
        for env in envelopes:
            barrier.wait()
            out.append(ingest(db, env).status)

    threads = [threading.Thread(target=run, args=(db, out)) for db, out in zip((rdb, other), results, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other.close()
    for a, b in zip(*results, strict=True):
        assert sorted((a, b)) == ["accepted", "duplicate"]
    with rdb.read() as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM batches ORDER BY id")]
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (30,)
        assert conn.execute("SELECT last_seq FROM gateways").fetchone() == (30,)
    assert seqs == list(range(1, 31))


def test_two_receivers_never_accept_two_versions_of_one_seq(rdb: PostgresDB, pg_url: str) -> None:
    """Two different batches for the same seq race: one accepted, the other equivocation, every round."""
    gw = enrolled(rdb, FakeGateway())
    other = PostgresDB(pg_url)
    barrier = threading.Barrier(2)
    try:
        for rnd in range(15):
            a = gw.make(records=[indicator(rnd, value=1.0)])
            b = gw.make(records=[indicator(rnd, value=2.0)])
            verdicts: dict[str, str] = {}

            def run(db: PostgresDB, batch: wire.SignedBatch, verdicts: dict[str, str] = verdicts) -> None:
                barrier.wait()
                res = ingest(db, batch.envelope())
                verdicts[batch.hash] = res.code or res.status

            threads = [threading.Thread(target=run, args=(rdb, a)), threading.Thread(target=run, args=(other, b))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert sorted(verdicts.values()) == ["accepted", "equivocation"], verdicts
            winner = a if verdicts[a.hash] == "accepted" else b
            gw.seq, gw.prev = gw.seq + 1, winner.hash
    finally:
        other.close()
    with rdb.read() as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT seq) FROM batches").fetchone() == (15, 15)
        kinds = [r[0] for r in conn.execute("SELECT kind FROM findings ORDER BY id")]
    assert kinds == ["equivocation"] * 15


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "cloud_stub", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr}")
    return proc


def test_admin_commands_work_on_postgres(pg_url: str, tmp_path: Path) -> None:
    tok = json.loads(cli("token", "--db", pg_url, "--enterprise", "ent-1", "--json").stdout)
    assert tok["enterprise_id"] == "ent-1" and tok["token"].startswith("enr_")
    assert cli("bank", "add", "--db", pg_url, "--name", "bank-1", "--enterprise", "ent-1").stdout.startswith("bank_")
    rdb = PostgresDB(pg_url)
    try:
        gw = FakeGateway("gw-1", "ent-1")
        req = gw.enroll_request(tok["token"])
        enroll(rdb, tok["token"], gw.gateway_id, req["public_key"], req["proof"])
        ingest(rdb, gw.make(seq=3).envelope())  # out of order -> a finding
    finally:
        rdb.close()
    found = json.loads(cli("findings", "--db", pg_url, "--json").stdout)
    assert [(f["kind"], f["detail"]["expected_seq"]) for f in found] == [("gap_observed", 1)]
    no_key = cli("serve", "--db", pg_url, "--port", "0", check=False)
    assert no_key.returncode == 2 and "--key is required with a PostgreSQL --db" in no_key.stderr
    down = cli("token", "--db", "postgresql://u:pw@127.0.0.1:1/x", "--enterprise", "e", check=False)
    assert down.returncode == 1 and "cannot connect to PostgreSQL" in down.stderr and "pw@" not in down.stderr


def test_two_receivers_enrolling_one_new_gateway_at_once_both_succeed(rdb: PostgresDB, pg_url: str) -> None:
    """Two tokens, two keys, one new gateway id, two connections at the same instant: no unique-violation 500."""
    other = PostgresDB(pg_url)
    barrier = threading.Barrier(2)
    try:
        for rnd in range(8):
            gws = [FakeGateway(f"gw-new-{rnd}", "ent-1"), FakeGateway(f"gw-new-{rnd}", "ent-1")]
            reqs = [g.enroll_request(issue_token(rdb, "ent-1")["token"]) for g in gws]
            outcome: list[object] = [None, None]

            def run(i: int, db: PostgresDB, reqs: list[dict] = reqs, outcome: list[object] = outcome) -> None:
                barrier.wait()
                try:
                    outcome[i] = enroll(db, reqs[i]["token"], reqs[i]["gateway_id"], reqs[i]["public_key"],
                                        reqs[i]["proof"])["kid"]
                except Exception as exc:  # noqa: BLE001 - the assertion below names it
                    outcome[i] = exc

            threads = [threading.Thread(target=run, args=(i, db)) for i, db in enumerate((rdb, other))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert outcome == [g.kid for g in gws], outcome
    finally:
        other.close()
    with rdb.read() as conn:
        assert conn.execute("SELECT count(*) FROM gateways").fetchone() == (8,)
        assert conn.execute("SELECT count(*) FROM gateway_keys").fetchone() == (16,)


def test_ingest_for_one_enterprise_waits_for_its_row_lock_and_others_do_not(rdb: PostgresDB, pg_url: str) -> None:
    """The enterprise row lock is what keeps an enterprise's record ids in commit order (the feed cursor)."""
    a, b = enrolled(rdb, FakeGateway("gw-a", "ent-1")), enrolled(rdb, FakeGateway("gw-b", "ent-2"))
    holder = PostgresDB(pg_url)
    done: dict[str, str] = {}

    def submit(gw: FakeGateway) -> threading.Thread:
        env = gw.next().envelope()
        t = threading.Thread(target=lambda: done.__setitem__(gw.gateway_id, ingest(rdb, env).status))
        t.start()
        return t

    try:
        with holder.write() as conn:  # another receiver's transaction for ent-1, still open
            conn.execute("SELECT id FROM enterprises WHERE id = 'ent-1' FOR NO KEY UPDATE")
            t_b = submit(b)
            t_b.join(10)
            assert done == {"gw-b": "accepted"}  # ent-2 is not held up
            t_a = submit(a)
            t_a.join(0.5)
            assert t_a.is_alive() and "gw-a" not in done  # ent-1 waits for the other transaction
        t_a.join(10)
        assert done["gw-a"] == "accepted"
    finally:
        holder.close()
