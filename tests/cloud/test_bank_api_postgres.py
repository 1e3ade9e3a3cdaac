"""The bank API and `feed verify` scenarios again, on PostgreSQL.

Same pattern as test_postgres_store.py: the SQLite scenario tests are imported and re-run here with the
``rdb`` fixture overridden to a fresh database on a real throwaway PostgreSQL server, so category
filtering, withheld stubs, cursors and every feed's SQL are checked on both stores by the same assertions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import test_bank_api
import test_feed_verify_categories
from _pytest.fixtures import FixtureFunctionDefinition

from tests.support.postgres import ThrowawayPostgres, postgres_server  # noqa: F401

psycopg = pytest.importorskip("psycopg")

from cloud_stub.db_postgres import PostgresDB  # noqa: E402

# Not database scenarios: the CLI test opens its own SQLite file.
_NOT_HERE = {"test_cli_bank_add_with_categories"}
for _module in (test_bank_api, test_feed_verify_categories):
    for _name, _obj in vars(_module).items():
        if _name in _NOT_HERE or _name in globals():
            continue
        if _name.startswith("test_") or isinstance(_obj, FixtureFunctionDefinition):
            globals()[_name] = _obj


@pytest.fixture
def rdb(postgres_server: ThrowawayPostgres) -> Iterator[PostgresDB]:  # noqa: F811
    db = PostgresDB(postgres_server.create_database())
    yield db
    db.close()
