"""The offboarding scenarios of test_offboard again, with the receiver on PostgreSQL (the purge finds the
enterprise's tables through information_schema there)."""

from __future__ import annotations

import pytest
import test_offboard

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_offboard,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_offboard_hold_then_purge_leaves_only_a_signed_tombstone" in globals()
