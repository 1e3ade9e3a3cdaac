"""`feed rescore` and the findings/alerts chains again, on PostgreSQL.

The SQLite scenarios of test_feed_rescore.py re-run with ``rdb`` on a fresh database of a real
throwaway PostgreSQL server: the signed-body loader, the category views, the hash-chained
findings and alerts (under the enterprise row lock) and every tamper case behave the same.
"""

from __future__ import annotations

import pytest
import test_feed_rescore

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_feed_rescore,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_banks_recompute_the_served_score_bit_for_bit" in globals()
