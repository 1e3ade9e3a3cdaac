"""The signature on the receiver's alert webhooks, made and checked with one rule (docs/receiver.md).

Every webhook POST carries these headers::

    EdgeProof-Timestamp: 1764201600            (Unix seconds when this attempt was signed)
    Idempotency-Key:     ep-<32 hex>           (the same on every retry of one alert to one channel)
    EdgeProof-Key-Id:    <receiver kid>        (the key of GET /v1/receiver/key)
    EdgeProof-Signature: ed25519=<base64 of a detached Ed25519 signature>

and the signature covers these exact bytes (``\\n`` is one newline byte)::

    b"edgeproof-webhook/1\\n" + timestamp + b"\\n" + idempotency_key + b"\\n" + body

A bank checks it with the receiver key it pinned (the same key that signs feed pages), refuses a
timestamp too far from its own clock (a replayed request), and uses the idempotency key to
act on each alert once, however often it is retried. This module imports only PyNaCl and the
standard library, so a bank can copy it as it is.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

DOMAIN = b"edgeproof-webhook/1\n"
H_TIMESTAMP = "EdgeProof-Timestamp"
H_IDEMPOTENCY = "Idempotency-Key"
H_KEY_ID = "EdgeProof-Key-Id"
H_SIGNATURE = "EdgeProof-Signature"
DEFAULT_TOLERANCE = 300  # seconds a bank should accept between the timestamp and its clock


class WebhookSignatureError(ValueError):
    """The request is not a webhook this receiver key signed (the message says why)."""


def signed_bytes(timestamp: str, idempotency_key: str, body: bytes) -> bytes:
    return DOMAIN + timestamp.encode("ascii") + b"\n" + idempotency_key.encode("ascii") + b"\n" + body


def sign(key: SigningKey, body: bytes, idempotency_key: str, kid: str, now: float | None = None) -> dict[str, str]:
    """The headers for one attempt of a webhook with ``body``."""
    ts = str(int(time.time() if now is None else now))
    sig = key.sign(signed_bytes(ts, idempotency_key, body)).signature
    return {H_TIMESTAMP: ts, H_IDEMPOTENCY: idempotency_key, H_KEY_ID: kid,
            H_SIGNATURE: "ed25519=" + base64.b64encode(sig).decode("ascii")}


def verify(public_key: bytes, headers: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: float = DEFAULT_TOLERANCE) -> str:
    """Check a received webhook; returns its idempotency key. Header names are matched case-insensitively."""
    low = {k.lower(): v for k, v in headers.items()}
    try:
        ts, key_, sig_text = (low[h.lower()] for h in (H_TIMESTAMP, H_IDEMPOTENCY, H_SIGNATURE))
    except KeyError as exc:
        raise WebhookSignatureError(f"missing header {exc.args[0]}") from None
    if not sig_text.startswith("ed25519="):
        raise WebhookSignatureError(f"{H_SIGNATURE} must start with 'ed25519='")
    try:
        sig = base64.b64decode(sig_text.removeprefix("ed25519="), validate=True)
        signed = signed_bytes(ts, key_, body)
        when = int(ts)
    except (ValueError, UnicodeEncodeError):
        raise WebhookSignatureError("malformed timestamp, idempotency key or signature") from None
    try:
        VerifyKey(public_key).verify(signed, sig)
    except (BadSignatureError, ValueError):
        raise WebhookSignatureError("signature does not verify with the pinned receiver key") from None
    current = time.time() if now is None else now
    if abs(current - when) > tolerance:
        raise WebhookSignatureError(f"timestamp {when} is more than {tolerance:.0f} s from now ({current:.0f})")
    return key_
