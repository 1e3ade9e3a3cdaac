"""The enterprise view and dispute decisions (test_enterprise_view.py) again, on PostgreSQL: the
dispute_decisions table, its uniqueness and every query of disputes.py on both stores."""

from __future__ import annotations

import pytest
import test_enterprise_view

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

# The hostile-header fuzz is about the HTTP layer, not the store: once is enough.
rerun_on_postgres(globals(), (test_enterprise_view,),
                  skip={"test_hostile_headers_get_a_json_401_or_403_and_nothing_is_stored"})


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb
