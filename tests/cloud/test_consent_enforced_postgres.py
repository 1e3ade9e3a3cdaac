"""The consent-enforcement scenarios of test_consent_enforced again, with the receiver on PostgreSQL."""

from __future__ import annotations

import pytest
import test_consent_enforced

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_consent_enforced,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_narrowing_and_revoking_consent_narrow_the_feed_for_past_records" in globals()
