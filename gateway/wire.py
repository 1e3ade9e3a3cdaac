"""EdgeProof wire format v1: the signed batch, shared by the gateway, the receiver and banks.

This module is the protocol. It imports only the standard library and PyNaCl so that a
receiver or a bank's verifier can vendor it alone; CI enforces that it imports nothing
else of the project. `docs/wire-format.md` specifies the same rules in prose, with a
worked example that `tests/test_wire_example.py` checks byte for byte.

Rules, in short:
* The body is canonical JSON: UTF-8, object keys sorted by code point, no insignificant
  whitespace, no NaN/Infinity, integers as integers. It is encoded once, by the
  gateway; verifiers check the signature over the received bytes and never re-encode.
* The signature is Ed25519 over ``SIGN_PREFIX + body``; the prefix separates batch
  signatures from any other use of the same key (enrollment proofs use ENROLL_PREFIX).
* ``batch_hash = sha256(body)``; each body carries ``prev`` (the previous batch's hash,
  64 zeros for seq 1) and a strictly increasing ``seq``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

FORMAT = "edgeproof-batch/1"
VERSION = 1
SIGN_PREFIX = b"EdgeProof batch v1\x00"
ENROLL_PREFIX = b"EdgeProof enroll v1\x00"
REPORT_PREFIX = b"EdgeProof report v1\x00"
GENESIS_PREV = "0" * 64
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024

REQUIRED_BODY_KEYS = (
    "v", "gateway", "enterprise", "kid", "seq", "prev", "boot", "created", "clock", "loss", "records",
)


class WireError(ValueError):
    """A batch that cannot be accepted; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _reject_constant(name: str) -> Any:
    raise WireError("bad_encoding", f"non-finite number {name} is not allowed")


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes. Floats use Python's shortest round-trip repr."""
    _check_finite(obj)
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _check_finite(obj: Any) -> None:
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise WireError("bad_encoding", "non-finite number in body")
    elif isinstance(obj, dict):
        for v in obj.values():
            _check_finite(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _check_finite(v)


def key_id(public_key: bytes) -> str:
    """Stable short name of a public key: 'ed25519:' + first 16 hex of its SHA-256."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def batch_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise WireError("bad_envelope", f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class SignedBatch:
    """What travels: the exact body bytes, the signature and the key id."""

    body: bytes
    sig: bytes
    kid: str

    @property
    def hash(self) -> str:
        return batch_hash(self.body)

    def envelope(self) -> bytes:
        return canonical_json({"format": FORMAT, "kid": self.kid, "body": b64(self.body), "sig": b64(self.sig)})

    def to_json(self) -> dict[str, str]:
        return {"format": FORMAT, "kid": self.kid, "body": b64(self.body), "sig": b64(self.sig)}


def sign_body(body_obj: dict[str, Any], signing_key: SigningKey) -> SignedBatch:
    """Encode a batch body once and sign those bytes."""
    missing = [k for k in REQUIRED_BODY_KEYS if k not in body_obj]
    if missing:
        raise WireError("bad_body", f"body lacks {missing}")
    body = canonical_json(body_obj)
    sig = signing_key.sign(SIGN_PREFIX + body).signature
    return SignedBatch(body=body, sig=sig, kid=body_obj["kid"])


def parse_envelope(data: bytes | str | dict[str, Any]) -> SignedBatch:
    """Split an envelope into body bytes, signature and key id; checks shape only."""
    if isinstance(data, dict):
        env = data
    else:
        if len(data) > MAX_ENVELOPE_BYTES:
            raise WireError("too_large", f"envelope is {len(data)} bytes, limit {MAX_ENVELOPE_BYTES}")
        try:
            env = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WireError("bad_envelope", f"envelope is not JSON: {exc}") from exc
    if not isinstance(env, dict) or env.get("format") != FORMAT:
        raise WireError("bad_envelope", f"envelope format must be {FORMAT!r}")
    for k in ("kid", "body", "sig"):
        if not isinstance(env.get(k), str):
            raise WireError("bad_envelope", f"envelope field {k!r} missing or not a string")
    return SignedBatch(body=unb64(env["body"], "body"), sig=unb64(env["sig"], "sig"), kid=env["kid"])


def verify(batch: SignedBatch, public_key: bytes) -> dict[str, Any]:
    """Check the signature over the received bytes, then decode and check the body's shape.

    Returns the decoded body. Raises WireError with code 'bad_signature', 'bad_body' or
    'kid_mismatch'. Chain continuity is the receiver's job (it needs history).
    """
    if key_id(public_key) != batch.kid:
        raise WireError("kid_mismatch", f"key id {batch.kid} does not name the given public key")
    try:
        VerifyKey(public_key).verify(SIGN_PREFIX + batch.body, batch.sig)
    except BadSignatureError as exc:
        raise WireError("bad_signature", "signature does not match the body bytes") from exc
    return decode_body(batch.body, expect_kid=batch.kid)


def decode_body(body: bytes, expect_kid: str | None = None) -> dict[str, Any]:
    try:
        obj = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError("bad_body", f"body is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise WireError("bad_body", "body is not an object")
    missing = [k for k in REQUIRED_BODY_KEYS if k not in obj]
    if missing:
        raise WireError("bad_body", f"body lacks {missing}")
    if obj["v"] != VERSION:
        raise WireError("bad_body", f"unsupported body version {obj['v']!r}")
    if not isinstance(obj["seq"], int) or obj["seq"] < 1:
        raise WireError("bad_body", "seq must be an integer >= 1")
    if not isinstance(obj["prev"], str) or len(obj["prev"]) != 64:
        raise WireError("bad_body", "prev must be 64 hex characters")
    if not isinstance(obj["records"], list):
        raise WireError("bad_body", "records must be a list")
    if expect_kid is not None and obj["kid"] != expect_kid:
        raise WireError("kid_mismatch", "body names a different key than the envelope")
    return obj


def sign_enrollment(token: str, gateway_id: str, signing_key: SigningKey) -> bytes:
    """Proof that the enrolling party holds the private key for the public key it registers."""
    return signing_key.sign(ENROLL_PREFIX + f"{token}\n{gateway_id}".encode()).signature


def verify_enrollment(token: str, gateway_id: str, public_key: bytes, proof: bytes) -> None:
    try:
        VerifyKey(public_key).verify(ENROLL_PREFIX + f"{token}\n{gateway_id}".encode(), proof)
    except BadSignatureError as exc:
        raise WireError("bad_signature", "enrollment proof does not match the public key") from exc


def sign_report(report_obj: dict[str, Any], signing_key: SigningKey) -> dict[str, str]:
    """The receiver's signature over a feed page or report (same rules, its own prefix)."""
    body = canonical_json(report_obj)
    sig = signing_key.sign(REPORT_PREFIX + body).signature
    return {"body": b64(body), "sig": b64(sig), "kid": key_id(bytes(signing_key.verify_key))}


def verify_report(signed: dict[str, str], public_key: bytes) -> dict[str, Any]:
    body = unb64(signed["body"], "report body")
    if key_id(public_key) != signed.get("kid"):
        raise WireError("kid_mismatch", "report key id does not name the given public key")
    try:
        VerifyKey(public_key).verify(REPORT_PREFIX + body, unb64(signed["sig"], "report sig"))
    except BadSignatureError as exc:
        raise WireError("bad_signature", "report signature does not match") from exc
    return json.loads(body)
