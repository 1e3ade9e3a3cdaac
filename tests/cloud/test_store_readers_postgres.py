"""The reader-pool tests of test_store_readers on a real PostgreSQL server."""

from __future__ import annotations

import pytest
import test_store_readers

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_store_readers,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_a_read_does_not_wait_for_an_open_write_and_sees_only_what_was_committed" in globals()
