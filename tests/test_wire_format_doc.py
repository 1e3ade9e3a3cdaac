"""The worked example in docs/wire-format.md must verify with PyNaCl alone, and our encoder
must produce exactly those bytes, so the document and the code cannot drift apart."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from cloud_stub import feed
from gateway import wire

DOC = Path(__file__).resolve().parent.parent / "docs" / "wire-format.md"


def blocks() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"```([a-z-]+)\n(.*?)\n```", text, re.S)}


def test_worked_example_verifies_with_pynacl_alone() -> None:
    b = blocks()
    pk = bytes.fromhex(b["public-key-hex"])
    body = b["body"].encode("utf-8")
    sig = bytes.fromhex(b["signature-hex"])
    assert len(body) == 511
    assert "ed25519:" + hashlib.sha256(pk).hexdigest()[:16] == b["kid"]
    VerifyKey(pk).verify(b"EdgeProof batch v1\x00" + body, sig)
    assert hashlib.sha256(body).hexdigest() == b["batch-hash"]
    env = json.loads(b["envelope"])
    assert base64.b64decode(env["body"]) == body and base64.b64decode(env["sig"]) == sig
    # and the verifier in the document, executed as written
    ns: dict = {}
    exec(b["python"], ns)  # noqa: S102 - the document's own code
    obj = ns["verify_envelope"](b["envelope"].encode(), pk, "0" * 64)
    assert obj["seq"] == 1 and obj["records"][0]["value"] == 4.875


def test_our_encoder_reproduces_the_example_bytes() -> None:
    b = blocks()
    sk = SigningKey(bytes(range(32)))
    obj = json.loads(b["body"])
    signed = wire.sign_body(obj, sk)
    assert signed.body == b["body"].encode()
    assert signed.sig.hex() == b["signature-hex"]
    assert signed.envelope().decode() == b["envelope"]


def test_flipped_byte_fails_and_prefix_matters() -> None:
    b = blocks()
    pk, body, sig = bytes.fromhex(b["public-key-hex"]), bytearray(b["body"].encode()), bytes.fromhex(b["signature-hex"])
    body[100] ^= 1
    with pytest.raises(BadSignatureError):
        VerifyKey(pk).verify(b"EdgeProof batch v1\x00" + bytes(body), sig)
    with pytest.raises(BadSignatureError):  # no domain prefix: not a valid batch signature
        VerifyKey(pk).verify(b["body"].encode(), sig)


def test_wire_rejects_what_the_spec_forbids() -> None:
    sk = SigningKey(bytes(range(32)))
    obj = json.loads(blocks()["body"])
    obj["records"][0]["value"] = float("nan")
    with pytest.raises(wire.WireError, match="bad_encoding"):
        wire.sign_body(obj, sk)
    with pytest.raises(wire.WireError, match="bad_envelope"):
        wire.parse_envelope(b'{"format": "other"}')
    good = wire.sign_body(json.loads(blocks()["body"]), sk)
    other = SigningKey(bytes(32))
    with pytest.raises(wire.WireError, match="kid_mismatch"):
        wire.verify(good, bytes(other.verify_key))
    forged = wire.SignedBatch(good.body, other.sign(wire.SIGN_PREFIX + good.body).signature, good.kid)
    with pytest.raises(wire.WireError, match="bad_signature"):
        wire.verify(forged, bytes(sk.verify_key))


def test_the_worked_stub_is_what_the_receiver_serves_and_rebuilds_the_signed_head() -> None:
    """§6's stub, byte for byte: what cloud_stub.feed serves for the example batch withheld, whose
    rebuilt head (§8) is the example head and whose head_sig is the envelope's and verifies."""
    b = blocks()
    body, env = b["body"].encode(), json.loads(b["envelope"])
    head_sig = base64.b64decode(env["head_sig"])
    served = feed._stub(b["batch-hash"], "gw-example-01", 1, 1, body, b["kid"], head_sig, {"energy"})
    assert wire.canonical_json(served).decode() == b["stub"]
    stub = json.loads(b["stub"])
    head = {"v": 1, "gateway": stub["gateway_id"], "enterprise": "ent-example", "kid": stub["kid"], "seq": stub["seq"],
            "prev": stub["prev"], "hash": stub["hash"], "categories": stub["categories"],
            "records": stub["record_count"], "dropped": stub["dropped"]}
    head_bytes = json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert head_bytes.decode() == b["head"] and len(head_bytes) == 300
    assert head_sig.hex() == b["head-signature-hex"]
    VerifyKey(bytes.fromhex(b["public-key-hex"])).verify(b"EdgeProof head v1\x00" + head_bytes, head_sig)


def test_an_unsigned_stub_has_prev_and_head_sig_null_never_omitted() -> None:
    """§8: a stub of a batch without a head signature keeps all nine keys, prev and head_sig null."""
    b = blocks()
    stub = feed._stub(b["batch-hash"], "gw-example-01", 1, 1, b["body"].encode(), b["kid"], None, {"energy"})
    assert set(stub) == {"hash", "gateway_id", "seq", "categories", "record_count", "dropped", "kid", "prev",
                         "head_sig"}
    assert stub["prev"] is None and stub["head_sig"] is None
