"""The repayment assessment and outside records again, on PostgreSQL (the CLI test stays on SQLite:
it opens the receiver by file path)."""

from __future__ import annotations

import pytest
import test_repayment_report

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_repayment_report,), skip={"test_outside_import_checks_records_and_signatures"})


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_report_carries_the_repayment_assessment_and_rescores" in globals()
