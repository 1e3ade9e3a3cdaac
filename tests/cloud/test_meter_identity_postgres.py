"""The meter identity scenarios of test_meter_identity again, on PostgreSQL (same receiver and gateway runtime)."""

from __future__ import annotations

import pytest
import test_meter_identity

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_meter_identity,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_one_serial_on_two_gateways_and_on_two_devices_is_a_duplicate" in globals()
