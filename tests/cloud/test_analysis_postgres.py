"""Analysis on PostgreSQL: the SQLite analysis tests run again with ``rdb`` on a real server.

Same history (real signed batches through real ingest), same assertions: the bounds, the
findings/scores/alerts SQL (``RETURNING``, ``ON CONFLICT DO NOTHING``), recomputation and
tamper detection must behave identically on both stores. Left out: the tests that rely on
a key file next to a SQLite database and the CLI test (SQLite file paths).
"""

from __future__ import annotations

import pytest
import test_analysis

from tests.support.postgres import ThrowawayPostgres, postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

from cloud_stub.db_postgres import PostgresDB  # noqa: E402

rerun_on_postgres(globals(), (test_analysis,), skip={
    "test_reports_are_signed_by_default_with_the_receivers_key_file", "test_cli_analyse_scores_and_rescore",
    "test_periodic_analysis_scores_every_enterprise_on_its_own_connection",
    "test_serve_analyse_every_scores_in_the_background"})


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_the_sqlite_tests_were_collected() -> None:
    assert "test_tampering_with_a_stored_input_is_detected" in globals()


def test_cli_analyse_scores_and_rescore_on_postgresql(postgres_server: ThrowawayPostgres,  # noqa: F811
                                                      tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from cloud_stub.cli import cloud

    url = postgres_server.create_database()
    db = PostgresDB(url)
    test_analysis.history(db)
    db.close()
    run = CliRunner().invoke
    no_key = run(cloud, ["analyse", "--db", url, "--all"])
    assert no_key.exit_code == 2 and "--key is required with a PostgreSQL --db" in no_key.output
    key = str(tmp_path / "receiver.key")
    out = run(cloud, ["analyse", "--db", url, "--key", key, "--enterprise", "ent-1",
                      "--as-of", str(test_analysis.AS_OF), "--days", "30", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["report"]["warning_level"] == "red"
    listed = run(cloud, ["scores", "--db", url, "--enterprise", "ent-1", "--json"])
    assert [s["id"] for s in json.loads(listed.output)] == [1]
    ok = run(cloud, ["rescore", "--db", url, "--key", key, "--score-id", "1"])
    assert ok.exit_code == 0 and "score 1: reproducible" in ok.output
