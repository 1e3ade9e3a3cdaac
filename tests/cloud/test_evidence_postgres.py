"""The evidence loader on PostgreSQL: the SQLite evidence tests run again on a real server.

Same real signed batches through real ingest; the loader's SQL (``substr`` of a ``bytea``
body, grouped seq ranges, ``<>`` filters) must select exactly what it selects on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import test_evidence

from tests.support.postgres import ThrowawayPostgres, postgres_server  # noqa: F401

pytest.importorskip("psycopg")

from cloud_stub.db_postgres import PostgresDB  # noqa: E402

for _name, _obj in vars(test_evidence).items():
    if _name.startswith("test_") and _name not in globals():
        globals()[_name] = _obj


@pytest.fixture
def rdb(postgres_server: ThrowawayPostgres) -> Iterator[PostgresDB]:  # noqa: F811
    db = PostgresDB(postgres_server.create_database())
    yield db
    db.close()


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_live_beats_replayed_and_the_latest_revision_wins" in globals()
