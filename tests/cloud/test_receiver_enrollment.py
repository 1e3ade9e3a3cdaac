"""Enrollment over real HTTP: one-time tokens, expiry, proof of possession, key listing."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cloud_helpers import FakeGateway, http
from nacl.signing import SigningKey

from cloud_stub import receiver_key
from cloud_stub.db import utc_now
from cloud_stub.enrollment import issue_token
from gateway import wire


def test_enroll_returns_ids_and_receiver_key(receiver):
    g = FakeGateway()
    token = issue_token(receiver.rdb, g.enterprise)["token"]
    status, out = http("POST", f"{receiver.url}/v1/enroll", g.enroll_request(token))
    assert status == 200, out
    assert out["enterprise_id"] == g.enterprise and out["gateway_id"] == g.gateway_id and out["kid"] == g.kid
    assert out["receiver_public_key"] == wire.b64(bytes(receiver.key.verify_key))
    assert out["receiver_kid"] == wire.key_id(bytes(receiver.key.verify_key))
    status, keys = http("GET", f"{receiver.url}/v1/gateways/{g.gateway_id}/keys")
    assert status == 200
    assert keys["enterprise_id"] == g.enterprise
    listed = [(k["kid"], k["public_key"], k["revoked_at"]) for k in keys["keys"]]
    assert listed == [(g.kid, g.public_b64, None)]


def test_token_is_one_time(receiver):
    g = FakeGateway()
    token = issue_token(receiver.rdb, g.enterprise)["token"]
    assert http("POST", f"{receiver.url}/v1/enroll", g.enroll_request(token))[0] == 200
    other = FakeGateway(gateway_id="gw-2")
    status, out = http("POST", f"{receiver.url}/v1/enroll", other.enroll_request(token))
    assert (status, out["status"], out["code"]) == (403, "rejected", "token_used")


def test_expired_and_unknown_tokens(receiver):
    g = FakeGateway()
    old = issue_token(receiver.rdb, g.enterprise, ttl=timedelta(hours=1), now=utc_now() - timedelta(hours=2))
    status, out = http("POST", f"{receiver.url}/v1/enroll", g.enroll_request(old["token"]))
    assert (status, out["code"]) == (403, "token_expired")
    status, out = http("POST", f"{receiver.url}/v1/enroll", g.enroll_request("enr_not-a-token"))
    assert (status, out["code"]) == (403, "unknown_token")


def test_bad_proof_is_rejected_and_does_not_burn_the_token(receiver):
    g = FakeGateway()
    token = issue_token(receiver.rdb, g.enterprise)["token"]
    req = g.enroll_request(token)
    req["proof"] = wire.b64(wire.sign_enrollment(token, g.gateway_id, SigningKey.generate()))
    status, out = http("POST", f"{receiver.url}/v1/enroll", req)
    assert (status, out["code"]) == (400, "bad_signature")
    # a proof for another gateway id does not transfer either
    req = g.enroll_request(token)
    req["gateway_id"] = "gw-other"
    assert http("POST", f"{receiver.url}/v1/enroll", req)[1]["code"] == "bad_signature"
    assert http("POST", f"{receiver.url}/v1/enroll", g.enroll_request(token))[0] == 200


def test_malformed_enroll_request_is_400(receiver):
    status, out = http("POST", f"{receiver.url}/v1/enroll", {"token": "x"})
    assert (status, out["status"], out["code"]) == (400, "error", "bad_request")
    g = FakeGateway()
    req = g.enroll_request(issue_token(receiver.rdb, g.enterprise)["token"])
    req["public_key"] = "not base64!"
    assert http("POST", f"{receiver.url}/v1/enroll", req)[0] == 400


def test_reenroll_with_new_key_keeps_chain_and_old_key(receiver, gw):
    assert receiver.post(gw.next().envelope())[1]["status"] == "accepted"
    old_key = gw.key
    gw.key = SigningKey.generate()
    receiver.enroll(gw)
    # the chain continues across keys: seq 2 signed with the new key
    assert receiver.post(gw.next().envelope())[1] == {"status": "accepted", "seq": 2, "hash": gw.prev}
    # the old key stays valid until revoked
    b3 = gw.make(key=old_key, kid=wire.key_id(bytes(old_key.verify_key)))
    status, out = receiver.post(b3.envelope())
    assert (status, out["status"]) == (200, "accepted"), out
    keys = http("GET", f"{receiver.url}/v1/gateways/{gw.gateway_id}/keys")[1]["keys"]
    assert len(keys) == 2


def test_receiver_key_and_health(receiver):
    status, health = http("GET", f"{receiver.url}/healthz")
    assert (status, health["status"]) == (200, "ok")
    assert set(health["unauthenticated_rejections"]) == {"total", "by_code", "by_gateway"}
    status, out = http("GET", f"{receiver.url}/v1/receiver/key")
    assert status == 200 and out["public_key"] == wire.b64(bytes(receiver.key.verify_key))
    assert http("GET", f"{receiver.url}/v1/gateways/nope/keys")[0] == 404


def test_openapi_describes_every_endpoint_and_errors_have_one_shape(receiver):
    status, spec = http("GET", f"{receiver.url}/openapi.json")
    assert status == 200
    assert set(spec["paths"]) >= {
        "/v1/enroll", "/v1/batches", "/v1/gateways/{gateway_id}/keys", "/v1/receiver/key",
        "/v1/feed/{enterprise_id}/records", "/v1/feed/{enterprise_id}/findings", "/healthz",
    }
    assert "requestBody" in spec["paths"]["/v1/batches"]["post"]
    status, out = http("GET", f"{receiver.url}/v1/nothing-here")
    assert (status, out["status"], out["code"]) == (404, "error", "not_found")


def test_receiver_key_file_is_private_and_reused(tmp_path):
    path = tmp_path / "k"
    k1 = receiver_key.load_or_create(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert bytes(receiver_key.load_or_create(path)) == bytes(k1)
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        receiver_key.load_or_create(path)
