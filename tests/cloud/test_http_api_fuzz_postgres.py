"""The HTTP API fuzz test again, on a real throwaway PostgreSQL: a value SQLite stores (a NUL, a
64-bit overflow, a lone surrogate) may fail differently there, and must still be a documented JSON 4xx."""

from __future__ import annotations

import pytest
import test_http_api_fuzz
import test_receiver_hostile_input

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

# The file-mode test opens its own SQLite file.
rerun_on_postgres(globals(), (test_http_api_fuzz, test_receiver_hostile_input),
                  skip={"test_receiver_db_is_created_private"})


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb
