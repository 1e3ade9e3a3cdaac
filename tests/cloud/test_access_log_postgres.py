"""The access log, feed verify's V33-V36 and an evidence bundle with trusted timestamps, on PostgreSQL.

The SQLite scenarios of test_access_log.py re-run with ``rdb`` on a real throwaway PostgreSQL server, and one
export from a PostgreSQL receiver (with a loopback TSA) verified offline.
"""

from __future__ import annotations

import pytest
import test_access_log
from cloud_helpers import http, wait_for
from test_evidence_bundle import tsa  # noqa: F401 - the module-scoped loopback TSA fixture

from cloud_stub import access_log
from cloud_stub.banks import add_bank
from cloud_stub.evidence_bundle import export_bundle
from gateway import evidence_verify
from tests.support.postgres import postgres_rdb, postgres_server, rerun_on_postgres  # noqa: F401

pytest.importorskip("psycopg")

rerun_on_postgres(globals(), (test_access_log,))


@pytest.fixture
def rdb(postgres_rdb):  # noqa: F811
    return postgres_rdb


def test_a_postgres_receivers_bundle_verifies(receiver, gw, tsa, tmp_path):  # noqa: F811
    token = add_bank(receiver.rdb, "bank-1", "ent-1")["token"]
    for _ in range(3):
        assert receiver.post(gw.next().envelope())[0] == 200
    assert http("GET", f"{receiver.url}/v1/feed/ent-1/records", token=token)[0] == 200
    wait_for(lambda: len(access_log.excerpt(receiver.rdb, "ent-1")) >= 5)
    info = export_bundle(receiver.rdb, "ent-1", tmp_path / "b.tar", key=receiver.key, tsa_url=tsa.url,
                         tsa_ca=tsa.ca_pem)
    assert info["counts"]["batches"] == 3 and info["counts"]["timestamps"] == 2  # the chain tip, the log head
    res = evidence_verify.verify_bundle(tmp_path / "b.tar")
    assert res.ok, res.failures
    assert res.summary["timestamps"]["verified"] == 2
