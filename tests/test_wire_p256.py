"""The wire format's second signature algorithm, ECDSA P-256 (TPM keys), checked like Ed25519:
the key id names the algorithm, batches / heads / head statements / enrollment proofs / requests /
certificates signed by a P-256 key verify, and any changed byte or another key fails."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from gateway import wire
from gateway.wire import request as wire_request


class SoftP256:
    """A P-256 MessageSigner in software (what a TPM signer answers, without the TPM)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = self._key.public_key().public_bytes(serialization.Encoding.X962,
                                                              serialization.PublicFormat.UncompressedPoint)

    def sign_message(self, message: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def body(kid: str, seq: int = 1) -> dict:
    return {"v": 1, "gateway": "gw-1", "enterprise": "ent-1", "kid": kid, "seq": seq, "prev": wire.GENESIS_PREV,
            "boot": 1, "created": "2026-12-04T00:00:00.000Z", "clock": {"synced": True}, "loss": {},
            "records": [{"type": "indicator", "name": "energy.kwh", "value": 1.5}]}


def test_the_key_id_names_the_algorithm() -> None:
    p = SoftP256()
    assert wire.key_alg(p.public_key) == wire.P256 and len(p.public_key) == 65
    assert wire.key_id(p.public_key) == "p256:" + hashlib.sha256(p.public_key).hexdigest()[:16]
    ed = bytes(SigningKey.generate().verify_key)
    assert wire.key_id(ed).startswith("ed25519:") and wire.key_alg(ed) == wire.ED25519


def test_a_p256_batch_and_its_head_verify_and_any_change_fails() -> None:
    p = SoftP256()
    kid = wire.key_id(p.public_key)
    signed = wire.sign_body(body(kid), p)
    assert len(signed.sig) == 64 and signed.head_sig is not None
    again = wire.parse_envelope(signed.envelope())
    assert wire.verify(again, p.public_key)["kid"] == kid
    flipped = bytearray(signed.body)
    flipped[-5] ^= 1
    with pytest.raises(wire.WireError, match="bad_signature"):
        wire.verify(wire.SignedBatch(bytes(flipped), signed.sig, kid, signed.head_sig), p.public_key)
    with pytest.raises(wire.WireError, match="bad_signature"):  # a head signature of another batch
        other = wire.sign_body(body(kid, seq=2), p)
        wire.verify(wire.SignedBatch(signed.body, signed.sig, kid, other.head_sig), p.public_key)
    other_key = SoftP256()
    with pytest.raises(wire.WireError, match="kid_mismatch"):
        wire.verify(signed, other_key.public_key)


def test_every_other_p256_signature_verifies() -> None:
    p = SoftP256()
    kid = wire.key_id(p.public_key)
    stmt = wire.head_statement("gw-1", "ent-1", kid, 3, "a" * 64, 1_800_000_000.0, 1)
    assert wire.verify_head_statement(wire.sign_head_statement(stmt, p), p.public_key) == stmt
    wire.verify_enrollment("tok", "gw-1", p.public_key, wire.sign_enrollment("tok", "gw-1", p))
    with pytest.raises(wire.WireError):
        wire.verify_enrollment("tok2", "gw-1", p.public_key, wire.sign_enrollment("tok", "gw-1", p))
    cert = wire.sign_certificate({"gateway": "gw-1", "destroyed": True}, p)
    assert cert["kid"] == kid and wire.verify_certificate(cert)["gateway"] == "gw-1"
    req = wire_request.request_statement("gw-1", kid, "ent-1", "GET", "/v1/x", 1_800_000_000.0)
    headers = wire_request.sign_request(req, p)
    raw, sig, _ = wire_request.parse_headers(headers[wire_request.HEADER_REQUEST],
                                             headers[wire_request.HEADER_SIGNATURE])
    wire_request.verify_request(raw, sig, p.public_key)
    with pytest.raises(wire.WireError, match="bad_signature"):
        wire_request.verify_request(raw + b" ", sig, p.public_key)


@settings(max_examples=60, deadline=None)
@given(sig=st.binary(min_size=0, max_size=80), point=st.binary(min_size=65, max_size=65))
def test_garbage_p256_signatures_and_points_are_refused_not_crashed(sig: bytes, point: bytes) -> None:
    p = SoftP256()
    for pk in (p.public_key, b"\x04" + point[1:]):
        try:
            wire.verify_signature(pk, b"message", sig)
        except Exception as exc:  # noqa: BLE001
            assert type(exc).__name__ == "BadSignatureError", exc
        else:
            raise AssertionError("a random signature verified")
