"""The covenant scenarios of test_covenants again, on PostgreSQL (the same replayed histories into the same real
receiver)."""

from __future__ import annotations

from typing import Any

import pytest
import test_covenants

from tests.support.postgres import postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_covenants,), skip=("world_store",))


@pytest.fixture(scope="module")
def world_store(postgres_server) -> tuple[str, Any]:  # noqa: F811
    from cloud_stub.db_postgres import PostgresDB

    url = postgres_server.create_database()
    return url, PostgresDB(url)


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_the_signed_report_carries_no_facility_and_rescores_identically" in globals()
