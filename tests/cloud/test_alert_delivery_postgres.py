"""Alert delivery again on PostgreSQL: the outbox, its leases, the delivery log and the grant checks
run the same assertions against a real throwaway PostgreSQL server (tests/support/postgres.py)."""

from __future__ import annotations

import pytest
import test_alert_delivery

from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

# The CLI scenarios open the SQLite file by path; the store logic they drive is covered by the others.
# The property tests touch no store.
rerun_on_postgres(globals(), (test_alert_delivery,), skip={"test_channel_secrets_never_printed_and_bad_config_named",
                                                          "test_cli_test_deliver_and_deliveries",
                                                          "test_webhook_verify_refuses_junk_with_its_own_error",
                                                          "test_channel_config_is_valid_or_a_named_400",
                                                          "test_the_messaging_apps_url_forms_are_accepted"})


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb
