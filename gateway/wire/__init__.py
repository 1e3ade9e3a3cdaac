"""EdgeProof wire format v1: the signed batch, shared by the gateway, the receiver and banks.

This module is the protocol. It imports only the standard library and PyNaCl (and
``cryptography``, lazily, for P-256 keys only) so that a receiver or a bank's verifier can
vendor it alone; CI enforces that it imports nothing else of the project.
`docs/wire-format.md` specifies the same rules in prose, with a worked example that
`tests/test_wire_example.py` checks byte for byte.

Rules, in short:
* The body is canonical JSON: UTF-8, object keys sorted by code point, no insignificant
  whitespace, no NaN/Infinity, integers as integers. It is encoded once, by the
  gateway; verifiers check the signature over the received bytes and never re-encode.
* The signature is Ed25519 over ``SIGN_PREFIX + body``; the prefix separates batch
  signatures from any other use of the same key (enrollment proofs use ENROLL_PREFIX).
* ``batch_hash = sha256(body)``; each body carries ``prev`` (the previous batch's hash,
  64 zeros for seq 1) and a strictly increasing ``seq``.
* The gateway also signs the batch's **head** (``HEAD_PREFIX + canonical_json(head)``): its
  place in the chain and what it holds (gateway, enterprise, key, seq, prev, hash,
  categories, record count, declared gap), derived from the body by :func:`batch_head`.
  The head signature travels beside the body signature; it lets a bank that may not see a
  batch (a category it was not granted) still check, with the gateway's key alone, where
  that batch sits in the chain and which categories it holds.
* A **head statement** (``HEADSTMT_PREFIX``, see :func:`sign_head_statement`) is the gateway's
  signed word, every few minutes, on the newest batch the receiver acknowledged: gateway, seq,
  hash, time and ``heads_from``. It is not a batch (it does not advance seq); the receiver must
  serve the latest one to banks, so a chain served shorter than it is a visible truncation.
* Two signature algorithms (docs/wire-format.md, "P-256 keys"): Ed25519 (the default, a 32-byte
  public key, kid ``ed25519:...``) and ECDSA P-256 with SHA-256 (a TPM 2.0 key: a 65-byte
  uncompressed point, kid ``p256:...``, signature ``r || s``, 64 bytes). The key names its algorithm,
  so every ``verify_*`` here checks either; P-256 needs ``cryptography``, imported only for such keys.
* ``heads_from`` (optional body field and head-statement field) is the first seq from which
  the gateway signs batch heads: from there a withheld stub without a valid head signature is
  a stripped head, not an old gateway's batch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

FORMAT = "edgeproof-batch/1"
VERSION = 1
SIGN_PREFIX = b"EdgeProof batch v1\x00"
ENROLL_PREFIX = b"EdgeProof enroll v1\x00"
REPORT_PREFIX = b"EdgeProof report v1\x00"
HEAD_PREFIX = b"EdgeProof head v1\x00"
HEAD_VERSION = 1
HEADSTMT_FORMAT = "edgeproof-headstmt/1"
HEADSTMT_PREFIX = b"EdgeProof headstmt v1\x00"
HEADSTMT_VERSION = 1
HEADSTMT_KEYS = ("enterprise", "gateway", "hash", "heads_from", "kid", "seq", "time", "v")
MAX_HEADSTMT_BYTES = 4096
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


ED25519 = "ed25519"
P256 = "p256"
P256_KEY_BYTES = 65  # SEC1 uncompressed point: 0x04 || X (32) || Y (32)


class MessageSigner(Protocol):
    """A key that signs without handing out its private part (gateway/signer.py: a file or a TPM)."""

    public_key: bytes

    def sign_message(self, message: bytes) -> bytes: ...


def key_alg(public_key: bytes) -> str:
    """The signature algorithm a public key belongs to, from its encoding alone."""
    if len(public_key) == P256_KEY_BYTES and public_key[:1] == b"\x04":
        return P256
    return ED25519


def key_id(public_key: bytes) -> str:
    """Stable short name of a public key: its algorithm ('ed25519:' or 'p256:') + first 16 hex of its SHA-256."""
    return key_alg(public_key) + ":" + hashlib.sha256(public_key).hexdigest()[:16]


def public_key_of(signing_key: SigningKey | MessageSigner) -> bytes:
    """The public key of a PyNaCl SigningKey or of a MessageSigner."""
    if isinstance(signing_key, SigningKey):
        return bytes(signing_key.verify_key)
    return signing_key.public_key


def signature(signing_key: SigningKey | MessageSigner, message: bytes) -> bytes:
    """The 64-byte signature of ``message``: Ed25519 by a PyNaCl key, or whatever a MessageSigner makes."""
    if isinstance(signing_key, SigningKey):
        return signing_key.sign(message).signature
    return signing_key.sign_message(message)


def verify_signature(public_key: bytes, message: bytes, sig: bytes) -> None:
    """Raise nacl's BadSignatureError unless ``sig`` is ``public_key``'s signature of ``message``.

    Ed25519 keys are checked with PyNaCl; P-256 keys (65-byte points) with ``cryptography``:
    ECDSA over SHA-256 of ``message``, the signature being ``r || s`` (32 bytes each, big-endian)."""
    if key_alg(public_key) == ED25519:
        VerifyKey(public_key).verify(message, sig)
        return
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if len(sig) != 64:
        raise BadSignatureError("a P-256 signature is r || s, 64 bytes")
    try:
        point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        point.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise BadSignatureError("P-256 signature does not verify") from exc


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
    head_sig: bytes | None = None  # None: a gateway from before head signatures

    @property
    def hash(self) -> str:
        return batch_hash(self.body)

    def envelope(self) -> bytes:
        return canonical_json(self.to_json())

    def to_json(self) -> dict[str, str]:
        env = {"format": FORMAT, "kid": self.kid, "body": b64(self.body), "sig": b64(self.sig)}
        if self.head_sig is not None:
            env["head_sig"] = b64(self.head_sig)
        return env


def declared_gap(body_obj: dict[str, Any]) -> list[int] | None:
    """The body's ``dropped`` as ``[first, last]`` when it is two integers, else None."""
    d = body_obj.get("dropped")
    if isinstance(d, list) and len(d) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in d):
        return [d[0], d[1]]
    return None


def record_category(rec: Any) -> str:
    """A record's category: its ``category`` when a non-empty string, else its ``type``."""
    if isinstance(rec, dict):
        cat = rec.get("category")
        if isinstance(cat, str) and cat:
            return cat
        t = rec.get("type")
        if isinstance(t, str):
            return t
    return "?"


def batch_head(body_obj: dict[str, Any], body_hash: str) -> dict[str, Any]:
    """The head of a batch: what a bank may check about it without seeing its records."""
    records = body_obj.get("records") if isinstance(body_obj.get("records"), list) else []
    return {"v": HEAD_VERSION, "gateway": body_obj.get("gateway"), "enterprise": body_obj.get("enterprise"),
            "kid": body_obj.get("kid"), "seq": body_obj.get("seq"), "prev": body_obj.get("prev"),
            "hash": body_hash, "categories": sorted({record_category(r) for r in records}),
            "records": len(records), "dropped": declared_gap(body_obj)}


def sign_head(head: dict[str, Any], signing_key: SigningKey | MessageSigner) -> bytes:
    return signature(signing_key, HEAD_PREFIX + canonical_json(head))


def verify_head(head: dict[str, Any], sig: bytes, public_key: bytes) -> None:
    """Raise WireError('bad_signature') unless ``sig`` is the gateway's signature of ``head``."""
    try:
        verify_signature(public_key, HEAD_PREFIX + canonical_json(head), sig)
    except BadSignatureError as exc:
        raise WireError("bad_signature", "head signature does not match the batch head") from exc


def sign_body(body_obj: dict[str, Any], signing_key: SigningKey | MessageSigner) -> SignedBatch:
    """Encode a batch body once and sign those bytes, and its head."""
    missing = [k for k in REQUIRED_BODY_KEYS if k not in body_obj]
    if missing:
        raise WireError("bad_body", f"body lacks {missing}")
    body = canonical_json(body_obj)
    sig = signature(signing_key, SIGN_PREFIX + body)
    head_sig = sign_head(batch_head(body_obj, batch_hash(body)), signing_key)
    return SignedBatch(body=body, sig=sig, kid=body_obj["kid"], head_sig=head_sig)


def parse_envelope(data: bytes | str | dict[str, Any]) -> SignedBatch:
    """Split an envelope into body bytes, signature and key id; checks shape only."""
    if isinstance(data, dict):
        env = data
    elif not isinstance(data, bytes | bytearray | str):
        raise WireError("bad_envelope", f"envelope must be JSON bytes or an object, not {type(data).__name__}")
    else:
        if len(data) > MAX_ENVELOPE_BYTES:
            raise WireError("too_large", f"envelope is {len(data)} bytes, limit {MAX_ENVELOPE_BYTES}")
        try:
            env = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WireError("bad_envelope", f"envelope is not JSON: {exc}") from exc
        except RecursionError as exc:  # deeply nested arrays/objects: not an envelope
            raise WireError("bad_envelope", "envelope is nested too deeply") from exc
    if not isinstance(env, dict) or env.get("format") != FORMAT:
        raise WireError("bad_envelope", f"envelope format must be {FORMAT!r}")
    for k in ("kid", "body", "sig"):
        if not isinstance(env.get(k), str):
            raise WireError("bad_envelope", f"envelope field {k!r} missing or not a string")
    head_sig = env.get("head_sig")
    if head_sig is not None and not isinstance(head_sig, str):
        raise WireError("bad_envelope", "envelope field 'head_sig' is not a string")
    return SignedBatch(body=unb64(env["body"], "body"), sig=unb64(env["sig"], "sig"), kid=env["kid"],
                       head_sig=unb64(head_sig, "head_sig") if head_sig is not None else None)


def verify(batch: SignedBatch, public_key: bytes) -> dict[str, Any]:
    """Check the signature over the received bytes, then decode and check the body's shape.

    Returns the decoded body. Raises WireError with code 'bad_signature' (the body's, or the
    head's when the envelope carries one), 'bad_body' or 'kid_mismatch'. Chain continuity
    is the receiver's job (it needs history).
    """
    if key_id(public_key) != batch.kid:
        raise WireError("kid_mismatch", f"key id {batch.kid} does not name the given public key")
    try:
        verify_signature(public_key, SIGN_PREFIX + batch.body, batch.sig)
    except BadSignatureError as exc:
        raise WireError("bad_signature", "signature does not match the body bytes") from exc
    body = decode_body(batch.body, expect_kid=batch.kid)
    if batch.head_sig is not None:
        verify_head(batch_head(body, batch.hash), batch.head_sig, public_key)
    return body


def decode_body(body: bytes, expect_kid: str | None = None) -> dict[str, Any]:
    try:
        obj = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError("bad_body", f"body is not UTF-8 JSON: {exc}") from exc
    except RecursionError as exc:  # a signed body is never that deep; refuse, never crash the caller
        raise WireError("bad_body", "body is nested too deeply") from exc
    if not isinstance(obj, dict):
        raise WireError("bad_body", "body is not an object")
    missing = [k for k in REQUIRED_BODY_KEYS if k not in obj]
    if missing:
        raise WireError("bad_body", f"body lacks {missing}")
    if obj["v"] != VERSION:
        raise WireError("bad_body", f"unsupported body version {obj['v']!r}")
    if not _is_int(obj["seq"]) or obj["seq"] < 1:
        raise WireError("bad_body", "seq must be an integer >= 1")
    if not isinstance(obj["prev"], str) or len(obj["prev"]) != 64:
        raise WireError("bad_body", "prev must be 64 hex characters")
    if not isinstance(obj["records"], list):
        raise WireError("bad_body", "records must be a list")
    if "heads_from" in obj and body_heads_from(obj) is None:
        raise WireError("bad_body", "heads_from must be an integer >= 1")
    if expect_kid is not None and obj["kid"] != expect_kid:
        raise WireError("kid_mismatch", "body names a different key than the envelope")
    return obj


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def body_heads_from(body_obj: dict[str, Any]) -> int | None:
    """The body's ``heads_from`` (the first seq whose batch head the gateway signs) when it is an
    integer >= 1; None when absent (a gateway from before head statements) or malformed."""
    v = body_obj.get("heads_from")
    return v if _is_int(v) and v >= 1 else None


ATTEST_PREFIX = b"EdgeProof key attestation v1\x00"


def attestation_nonce(token: str, gateway_id: str) -> bytes:
    """The qualifying data a TPM key's certification carries at enrollment: bound to this one-time token and
    gateway, so an attestation made for one enrollment cannot be replayed for another."""
    return hashlib.sha256(ATTEST_PREFIX + f"{token}\n{gateway_id}".encode()).digest()


def sign_enrollment(token: str, gateway_id: str, signing_key: SigningKey | MessageSigner) -> bytes:
    """Proof that the enrolling party holds the private key for the public key it registers."""
    return signature(signing_key, ENROLL_PREFIX + f"{token}\n{gateway_id}".encode())


def verify_enrollment(token: str, gateway_id: str, public_key: bytes, proof: bytes) -> None:
    try:
        verify_signature(public_key, ENROLL_PREFIX + f"{token}\n{gateway_id}".encode(), proof)
    except BadSignatureError as exc:
        raise WireError("bad_signature", "enrollment proof does not match the public key") from exc


def sign_report(report_obj: dict[str, Any], signing_key: SigningKey | MessageSigner) -> dict[str, str]:
    """The receiver's signature over a feed page or report (same rules, its own prefix)."""
    body = canonical_json(report_obj)
    sig = signature(signing_key, REPORT_PREFIX + body)
    return {"body": b64(body), "sig": b64(sig), "kid": key_id(public_key_of(signing_key))}


def verify_report(signed: dict[str, str], public_key: bytes) -> dict[str, Any]:
    body = unb64(signed["body"], "report body")
    if key_id(public_key) != signed.get("kid"):
        raise WireError("kid_mismatch", "report key id does not name the given public key")
    try:
        verify_signature(public_key, REPORT_PREFIX + body, unb64(signed["sig"], "report sig"))
    except BadSignatureError as exc:
        raise WireError("bad_signature", "report signature does not match") from exc
    return json.loads(body)


# -- head statements -----------------------------------------------------------------------
#
# Why a separate signed object and not a batch: a batch advances seq and must be stored
# forever; a head statement is the gateway's periodic "my chain, as the receiver acknowledged
# it, ends at seq N with hash H" and must not lengthen the chain it describes. Its own prefix
# keeps its signature from ever passing for a batch's, a head's or an enrollment proof.


@dataclass(frozen=True)
class SignedHeadStatement:
    """A head statement as it travels: its exact canonical bytes, the signature and the key id."""

    body: bytes
    sig: bytes
    kid: str

    @property
    def hash(self) -> str:
        """sha256 of the statement bytes: how acks (MQTT) and the receiver name a statement."""
        return batch_hash(self.body)

    def to_json(self) -> dict[str, str]:
        return {"format": HEADSTMT_FORMAT, "kid": self.kid, "body": b64(self.body), "sig": b64(self.sig)}

    def envelope(self) -> bytes:
        return canonical_json(self.to_json())


def format_time(ts: float) -> str:
    """UTC time as the wire writes it: ISO 8601, milliseconds, ``Z`` (as a batch's ``created``).

    Rounded to the nearest millisecond through an integer, so a time read back with
    :func:`parse_time` writes the same text (a float alone loses the millisecond far from 1970)."""
    ms = round(ts * 1000)
    dt = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: Any) -> float | None:
    """Seconds since the epoch of a wire time (``YYYY-MM-DDTHH:MM:SS.mmmZ``); None if it is not one."""
    if not isinstance(text, str) or len(text) != 24 or not text.endswith("Z") or not text.isascii():
        return None
    try:
        dt = datetime.strptime(text[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    same = dt.isoformat(timespec="milliseconds").replace("+00:00", "Z") == text
    return dt.timestamp() if same else None


def head_statement(gateway: str, enterprise: str, kid: str, seq: int, hash_: str, ts: float,
                   heads_from: int) -> dict[str, Any]:
    """The statement object: the gateway's chain ends (as acknowledged) at ``seq`` with ``hash_``."""
    return {"v": HEADSTMT_VERSION, "gateway": gateway, "enterprise": enterprise, "kid": kid, "seq": seq,
            "hash": hash_, "time": format_time(ts), "heads_from": heads_from}


def sign_head_statement(stmt: dict[str, Any], signing_key: SigningKey | MessageSigner) -> SignedHeadStatement:
    """Encode a head statement once (canonical JSON) and sign ``HEADSTMT_PREFIX + bytes``."""
    body = canonical_json(stmt)
    check_head_statement(stmt)
    return SignedHeadStatement(body=body, sig=signature(signing_key, HEADSTMT_PREFIX + body),
                               kid=stmt["kid"])


def check_head_statement(obj: Any) -> dict[str, Any]:
    """The statement's shape, exactly: the keys of HEADSTMT_KEYS and no other, each of its type."""
    if not isinstance(obj, dict):
        raise WireError("bad_statement", "head statement is not an object")
    if sorted(obj) != list(HEADSTMT_KEYS):
        raise WireError("bad_statement", f"head statement keys must be {list(HEADSTMT_KEYS)}, got {sorted(obj)}")
    if not _is_int(obj["v"]) or obj["v"] != HEADSTMT_VERSION:
        raise WireError("bad_statement", f"unsupported head statement version {obj['v']!r}")
    for k in ("gateway", "enterprise", "kid"):
        if not isinstance(obj[k], str) or not obj[k] or "\x00" in obj[k] or len(obj[k]) > 256:
            raise WireError("bad_statement", f"{k} must be a non-empty string (at most 256 characters)")
    if not _is_int(obj["seq"]) or not 1 <= obj["seq"] < 2**63:
        raise WireError("bad_statement", "seq must be an integer >= 1")
    if not _is_int(obj["heads_from"]) or not 1 <= obj["heads_from"] < 2**63:
        raise WireError("bad_statement", "heads_from must be an integer >= 1")
    h = obj["hash"]
    if not isinstance(h, str) or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise WireError("bad_statement", "hash must be 64 lowercase hex characters")
    if parse_time(obj["time"]) is None:
        raise WireError("bad_statement", "time must be UTC ISO 8601 with milliseconds and Z")
    return obj


def decode_head_statement(body: bytes) -> dict[str, Any]:
    """Decode statement bytes: UTF-8 canonical JSON of a well-formed statement, else WireError."""
    if len(body) > MAX_HEADSTMT_BYTES:
        raise WireError("too_large", f"head statement is over {MAX_HEADSTMT_BYTES} bytes")
    try:
        obj = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WireError("bad_statement", f"head statement is not UTF-8 JSON: {exc}") from exc
    check_head_statement(obj)
    if canonical_json(obj) != body:
        raise WireError("bad_statement", "head statement is not in canonical JSON")
    return obj


def parse_head_envelope(data: bytes | str | dict[str, Any]) -> SignedHeadStatement:
    """Split a head statement envelope into bytes, signature and key id; checks shape only."""
    if isinstance(data, dict):
        env = data
    else:
        if len(data) > 2 * MAX_HEADSTMT_BYTES:
            raise WireError("too_large", f"head statement envelope is over {2 * MAX_HEADSTMT_BYTES} bytes")
        try:
            env = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise WireError("bad_envelope", f"envelope is not JSON: {exc}") from exc
    if not isinstance(env, dict) or env.get("format") != HEADSTMT_FORMAT:
        raise WireError("bad_envelope", f"envelope format must be {HEADSTMT_FORMAT!r}")
    for k in ("kid", "body", "sig"):
        if not isinstance(env.get(k), str):
            raise WireError("bad_envelope", f"envelope field {k!r} missing or not a string")
    return SignedHeadStatement(body=unb64(env["body"], "body"), sig=unb64(env["sig"], "sig"), kid=env["kid"])


def verify_head_statement(signed: SignedHeadStatement, public_key: bytes) -> dict[str, Any]:
    """Check the gateway's signature over the statement bytes, then their shape; returns the statement.

    Raises WireError 'kid_mismatch' (the key id does not name ``public_key``, or the statement
    names another key), 'bad_signature', 'bad_statement' or 'too_large'.
    """
    if key_id(public_key) != signed.kid:
        raise WireError("kid_mismatch", f"key id {signed.kid} does not name the given public key")
    if len(signed.sig) != 64:
        raise WireError("bad_signature", "a signature is 64 bytes")
    try:
        verify_signature(public_key, HEADSTMT_PREFIX + signed.body, signed.sig)
    except BadSignatureError as exc:
        raise WireError("bad_signature", "signature does not match the head statement bytes") from exc
    stmt = decode_head_statement(signed.body)
    if stmt["kid"] != signed.kid:
        raise WireError("kid_mismatch", "head statement names a different key than its envelope")
    return stmt


# -- destruction certificates ------------------------------------------------------------------
# Signed by the gateway (`edgeproof decommission`) or the receiver (`edgeproof cloud offboard`)
# over canonical JSON, under their own prefix so no certificate can pass for a batch or a report.
CERT_PREFIX = b"edgeproof-destruction-cert-v1\n"


def sign_certificate(cert: dict[str, Any], signing_key: SigningKey | MessageSigner) -> dict[str, Any]:
    """``cert`` as signed bytes: ``{"body": b64, "sig": b64, "kid", "public_key": b64}``."""
    body = canonical_json(cert)
    pk = public_key_of(signing_key)
    return {"body": b64(body), "sig": b64(signature(signing_key, CERT_PREFIX + body)), "kid": key_id(pk),
            "public_key": b64(pk)}


def verify_certificate(signed: dict[str, Any], public_key: bytes | None = None) -> dict[str, Any]:
    """The certificate's content when the signature holds (by ``public_key``, else the one it carries:
    then compare ``kid`` with one known out of band)."""
    pk = public_key if public_key is not None else unb64(str(signed.get("public_key", "")), "certificate key")
    if key_id(pk) != signed.get("kid"):
        raise WireError("kid_mismatch", "certificate key id does not name the given public key")
    body = unb64(str(signed.get("body", "")), "certificate body")
    try:
        verify_signature(pk, CERT_PREFIX + body, unb64(str(signed.get("sig", "")), "certificate sig"))
    except BadSignatureError as exc:
        raise WireError("bad_signature", "certificate signature does not match") from exc
    return json.loads(body)
# -- gateway-authenticated fetches (signed updates: GET /v1/updates/latest) -----------------------
UPDATE_FETCH_PREFIX = b"EdgeProof update-fetch v1\x00"
UPDATE_FETCH_SCHEME = "EdgeProof-Gateway"
UPDATE_FETCH_MAX_SKEW_S = 300


def update_fetch_bytes(gateway_id: str, kid: str, ts: int, have: str) -> bytes:
    """What a gateway signs to fetch its latest release bundle: who, with which key, when, and the
    version it runs (so a replay is bounded by the time skew and cannot change ``have``)."""
    return UPDATE_FETCH_PREFIX + f"{gateway_id}\n{kid}\n{ts}\n{have}".encode()


def update_fetch_authorization(gateway_id: str, kid: str, ts: int, have: str, signing_key: SigningKey) -> str:
    """The Authorization header value: ``EdgeProof-Gateway gw=..,kid=..,t=..,sig=<b64>``."""
    sig = signing_key.sign(update_fetch_bytes(gateway_id, kid, ts, have)).signature
    return f"{UPDATE_FETCH_SCHEME} gw={gateway_id},kid={kid},t={ts},sig={b64(sig)}"
