"""The two-bank private-chain tests of test_bank_chain again, on PostgreSQL (the same replayed histories into the
same real receiver)."""

from __future__ import annotations

from typing import Any

import pytest
import test_bank_chain

from tests.support.postgres import postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_bank_chain,), skip=("world_store",))


@pytest.fixture(scope="module")
def world_store(postgres_server) -> tuple[str, Any]:  # noqa: F811
    from cloud_stub.db_postgres import PostgresDB

    url = postgres_server.create_database()
    return url, PostgresDB(url)


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_a_deleted_or_edited_private_finding_is_named_by_feed_verify" in globals()
