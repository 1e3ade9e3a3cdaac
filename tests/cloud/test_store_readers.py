"""Reads run on reader connections of their own: a bank's page does not wait for ingest.

Run on SQLite here and on a real PostgreSQL server by test_store_readers_postgres.py. Before
the reader pool one connection and one lock served both, so each of these reads would have
waited for the open write transaction (the first test then times out).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cloud_stub.enrollment import issue_token


def _count(rdb) -> int:  # noqa: ANN001
    with rdb.read() as conn:
        return conn.execute("SELECT count(*) FROM enterprises").fetchone()[0]


def test_a_read_does_not_wait_for_an_open_write_and_sees_only_what_was_committed(rdb):
    issue_token(rdb, "ent-a")
    with ThreadPoolExecutor(1) as pool, rdb.write() as w:
        w.execute("INSERT INTO enterprises (id, created) VALUES ('ent-uncommitted', '2026-11-27T00:00:00Z')")
        assert pool.submit(_count, rdb).result(timeout=10) == 1  # the write's row is not visible yet
    assert _count(rdb) == 2  # and is once committed


def test_a_read_snapshot_holds_while_ingest_commits(rdb):
    issue_token(rdb, "ent-a")
    with rdb.read() as conn:
        before = conn.execute("SELECT count(*) FROM enterprises").fetchone()[0]
        done = threading.Event()
        t = threading.Thread(target=lambda: (issue_token(rdb, "ent-b"), done.set()))
        t.start()
        assert done.wait(10), "the write waited for the read"
        assert conn.execute("SELECT count(*) FROM enterprises").fetchone()[0] == before
    t.join()
    assert _count(rdb) == before + 1


def test_a_read_cannot_write(rdb):
    with pytest.raises(Exception, match="(?i)read.only|readonly"), rdb.read() as conn:
        conn.execute("INSERT INTO enterprises (id, created) VALUES ('x', '2026-11-27T00:00:00Z')")
    assert _count(rdb) == 0


def test_more_readers_than_the_pool_wait_their_turn_and_all_finish(rdb):
    issue_token(rdb, "ent-a")
    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(lambda _i: _count(rdb), range(60), timeout=30)) == [1] * 60


def test_an_error_inside_a_read_leaves_a_reusable_connection(rdb):
    issue_token(rdb, "ent-a")
    for _ in range(10):  # more than the pool: each must come back idle, not be lost or left in a transaction
        with pytest.raises(KeyError), rdb.read() as conn:
            conn.execute("SELECT count(*) FROM enterprises").fetchone()
            raise KeyError("the caller's own error")
    assert _count(rdb) == 1 and rdb.readers.opened == 1
