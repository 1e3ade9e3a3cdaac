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
