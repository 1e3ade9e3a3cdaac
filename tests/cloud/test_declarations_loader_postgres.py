"""The declaration loader's tests again on a real PostgreSQL server."""

from __future__ import annotations

import pytest
import test_declarations_loader

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_declarations_loader,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb
