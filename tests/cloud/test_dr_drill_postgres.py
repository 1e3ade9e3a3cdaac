"""The disaster-recovery drill of test_dr_drill again, on PostgreSQL: every receiver is a fresh
database on a real throwaway server, backups are ``pg_dump -Fc`` and restores ``pg_restore``, and
destroying the receiver drops its database."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_dr_drill

from tests.support.postgres import ThrowawayPostgres, postgres_server, rerun_on_postgres  # noqa: F401

psycopg = pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_dr_drill,), skip=("targets", "test_acknowledged_batches_are_kept_for_the_window_"
                                                     "then_purged", "test_the_chain_kinds_include_gap_filled",
                                                     "test_sqlite_backup_is_a_consistent_database"))


@pytest.fixture
def targets(postgres_server: ThrowawayPostgres, tmp_path: Path) -> test_dr_drill.Targets:  # noqa: F811
    t = test_dr_drill.Targets(tmp_path)

    def destroy(url: str) -> None:
        name = url.split("@/", 1)[1].split("?")[0]
        with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    t.new, t.destroy = postgres_server.create_database, destroy
    return t


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_the_drill_loses_nothing_and_doubles_nothing" in globals()
