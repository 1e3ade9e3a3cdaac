"""The head-statement scenarios of test_feed_verify_heads again, on PostgreSQL.

Same real gateway uplink, receiver HTTP API and ``feed verify``; the receiver's database is a
fresh one on a real throwaway PostgreSQL server, so the head_statements SQL (bounded history,
duplicate and stale checks under the gateway row lock) and the tampering behave the same on
both stores.
"""

from __future__ import annotations

import pytest
import test_feed_verify_heads

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_feed_verify_heads,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_deleting_the_newest_batches_fails_naming_the_missing_seqs" in globals()
