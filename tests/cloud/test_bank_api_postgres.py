"""The bank API and `feed verify` scenarios again, on PostgreSQL.

Same pattern as test_postgres_store.py: the SQLite scenario tests are imported and re-run here with the
``rdb`` fixture overridden to a fresh database on a real throwaway PostgreSQL server, so category
filtering, withheld stubs, cursors and every feed's SQL are checked on both stores by the same assertions.
"""

from __future__ import annotations

import pytest
import test_bank_api
import test_feed_verify_categories

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

# Not database scenarios: the CLI test opens its own SQLite file.
rerun_on_postgres(globals(), (test_bank_api, test_feed_verify_categories), skip={"test_cli_bank_add_with_categories"})


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb
