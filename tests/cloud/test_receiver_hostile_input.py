"""The receiver crash and disk-filling defects of issue 18, each reproduced: they must now be JSON 4xx
answers that change nothing (the fuzz test in test_http_api_fuzz.py looks for the next ones)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cloud_helpers import FakeGateway, http, indicator
from nacl.signing import SigningKey

from cloud_stub import rejections
from cloud_stub.banks import add_bank
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import revoke_key
from cloud_stub.ingest import ingest
from cloud_stub.json_limits import MAX_DEPTH, max_depth
from gateway import wire


def _count(rdb, table: str) -> int:
    with rdb.read() as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.mark.parametrize("path", ["/v1/batches", "/v1/enroll"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])  # 5000: under the enroll size limit
def test_deeply_nested_json_is_a_400(receiver, path, depth):
    status, out = http("POST", receiver.url + path, b"[" * depth + b"]" * depth)
    assert status == 400 and out["code"] in ("bad_envelope", "bad_request") and "nests deeper" in out["message"]
    status, out = http("POST", receiver.url + path, {"token": [[[[1]]]]} if path == "/v1/enroll" else
                       {"format": "edgeproof-batch/1", "kid": "k", "body": wire.b64(b"[" * depth), "sig": "AA=="})
    assert status == 400, out


def test_a_signed_body_nested_too_deep_is_refused_before_parsing(receiver, gw):
    body = b'{"v":1,"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    env = wire.SignedBatch(body, gw.key.sign(wire.SIGN_PREFIX + body).signature, gw.kid).envelope()
    status, out = receiver.post(env)
    assert (status, out["code"]) == (400, "bad_body")


def test_depth_is_counted_outside_strings_only():
    assert max_depth(json.dumps({"a": "[[[{{{\\\"[", "b": [[{"c": "]]]"}]]})) == 4
    assert max_depth(b"1") == 0 and max_depth(b'"[["') == 0


@pytest.mark.parametrize(("feed", "param"), [("records", "cursor"), ("indicators", "cursor"), ("indicators", "from"),
                                              ("indicators", "to"), ("findings", "after"), ("findings", "cursor"),
                                              ("alerts", "cursor"), ("scores", "cursor"), ("records", "limit")])
@pytest.mark.parametrize("value", [str(10**30), str(2**63), str(-(2**63) - 1), "9" * 5000])
def test_huge_integers_are_a_json_400(receiver, gw, feed, param, value):
    token = add_bank(receiver.rdb, "bank-1", "ent-1")["token"]
    if param == "cursor":
        value = wire.b64(f"{feed[0]}:{value}".encode()).rstrip("=").replace("+", "-").replace("/", "_")
    status, out = http("GET", f"{receiver.url}/v1/feed/ent-1/{feed}?{param}={value}", token=token)
    assert status == 400 and out["status"] == "error" and out["code"] in ("bad_request", "bad_cursor", "bad_limit")


def test_the_largest_64_bit_value_is_still_served(receiver, gw):
    token = add_bank(receiver.rdb, "bank-1", "ent-1")["token"]
    status, out = http("GET", f"{receiver.url}/v1/feed/ent-1/indicators?to={2**63 - 1}", token=token)
    assert status == 200 and out["filters"]["to"] == 2**63 - 1


def test_a_nul_in_a_path_or_query_parameter_is_a_400(receiver, gw):
    token = add_bank(receiver.rdb, "bank-1", "ent-1")["token"]
    for path in ("/v1/feed/ent-1/indicators?name=a%00b", "/v1/feed/ent%00/records", "/v1/gateways/g%00/keys"):
        status, out = http("GET", receiver.url + path, token=token)
        assert (status, out["code"]) == (400, "bad_request"), path


def test_junk_envelopes_are_counted_not_stored(receiver, gw):
    """1,000 junk envelopes made 1,000 finding rows (issue 18): anything no enrolled key vouches for is
    counted in memory (and /healthz) only. A forged batch under a real or a revoked kid is junk too."""
    findings = _count(receiver.rdb, "findings")
    before = rejections.snapshot()["by_code"]
    stranger = SigningKey.generate()
    for i in range(300):
        junk = FakeGateway("gw-x", "ent-x", key=stranger).make(records=[indicator(i)])
        assert ingest(receiver.rdb, junk.envelope()).code == "unknown_key"
    forged = gw.make(key=stranger)  # the gateway's kid, another key's signature
    assert ingest(receiver.rdb, forged.envelope()).code == "bad_signature"
    assert _count(receiver.rdb, "findings") == findings
    after = rejections.snapshot()
    assert after["by_code"]["unknown_key"] - before.get("unknown_key", 0) == 300
    assert after["by_code"]["bad_signature"] - before.get("bad_signature", 0) == 1
    assert after["by_gateway"][gw.gateway_id] >= 1
    assert http("GET", f"{receiver.url}/healthz")[1]["unauthenticated_rejections"]["total"] >= 301

    revoke_key(receiver.rdb, gw.kid)
    assert ingest(receiver.rdb, gw.make(key=stranger).envelope()).code == "revoked_key"
    assert _count(receiver.rdb, "findings") == findings  # a forgery under a revoked kid: not stored
    assert ingest(receiver.rdb, gw.make().envelope()).code == "revoked_key"
    assert _count(receiver.rdb, "findings") == findings + 1  # the real gateway still using its revoked key: kept


def test_receiver_db_is_created_private(tmp_path):
    old = os.umask(0o022)
    try:
        os.chmod(tmp_path, 0o755)
        rdb = ReceiverDB(tmp_path / "receiver.db")
        with rdb.write() as conn:
            conn.execute("INSERT INTO enterprises (id, created) VALUES ('e', 'now')")
        for name in ("receiver.db", "receiver.db-wal", "receiver.db-shm"):
            if (tmp_path / name).exists():
                assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        rdb.close()
    finally:
        os.umask(old)
