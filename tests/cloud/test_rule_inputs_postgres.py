"""The evidence loader on PostgreSQL: the SQLite evidence tests run again on a real server.

Same real signed batches through real ingest; the loader's SQL (``substr`` of a ``bytea``
body, grouped seq ranges, ``<>`` filters) must select exactly what it selects on SQLite.
"""

from __future__ import annotations

import pytest
import test_rule_inputs

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_rule_inputs,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_live_beats_replayed_and_the_latest_revision_wins" in globals()
