"""/metrics and the rate limiter's token lookup on PostgreSQL (pg_database_size, the per-gateway silence
query, the bank token hashes): the SQLite scenarios of test_receiver_ops.py that touch the store, rerun."""

from __future__ import annotations

import pytest
import test_receiver_ops

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

_STORE_SCENARIOS = {"test_metrics_show_ingest_rejections_silence_and_store",
                    "test_rate_limits_per_token_and_per_address"}
rerun_on_postgres(globals(), (test_receiver_ops,),
                  skip={n for n in vars(test_receiver_ops) if n.startswith("test_")} - _STORE_SCENARIOS)


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb
