"""The fleet scenarios of test_fleet again, on PostgreSQL (the same real receiver and gateway runtime)."""

from __future__ import annotations

import pytest
import test_fleet

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_fleet,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_silence_raises_an_alert_once_and_contact_raises_a_recovery" in globals()
