"""The consent-enforcement scenarios of test_consent_enforced again, with the receiver on PostgreSQL."""

from __future__ import annotations

import pytest
import test_consent_enforced

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

# The CLI test opens the store by path; the CLI on PostgreSQL is covered by test_offboard_postgres.
rerun_on_postgres(globals(), (test_consent_enforced,),
                  skip=("test_cloud_consent_and_bank_add_report_a_grant_wider_than_consent",))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_narrowing_and_revoking_consent_narrow_the_feed_for_past_records" in globals()
