"""A request signed by the gateway's own key: how a gateway asks the receiver for its enterprise's view.

The enterprise sees what its banks see (issue 16): the gateway fetches the latest score reports,
findings and the bank's word on disputes, authenticated by the key it was enrolled with (no
password or token to provision, leak or rotate on site). The request carries one signed
statement in two headers (docs/wire-format.md, section 12):

* ``X-EdgeProof-Request``: base64 of the canonical JSON of
  ``{"v": 1, "gateway", "kid", "enterprise", "method", "path", "time", "nonce"}``;
* ``X-EdgeProof-Signature``: base64 of Ed25519 over ``REQUEST_PREFIX + those bytes``.

The receiver checks the signature with the enrolled, unrevoked key named by ``kid`` for that
gateway of that enterprise, that ``method`` and ``path`` are the request's own (a statement
cannot be replayed against another route), that ``time`` is within ``FRESH_S`` of its clock, and
that the ``nonce`` was not seen within the window (a captured request cannot be replayed).

Standard library, PyNaCl and :mod:`gateway.wire` only, so the receiver imports it as it
imports the wire format.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from gateway import wire

REQUEST_PREFIX = b"EdgeProof request v1\x00"
REQUEST_VERSION = 1
REQUEST_KEYS = ("enterprise", "gateway", "kid", "method", "nonce", "path", "time", "v")
HEADER_REQUEST = "X-EdgeProof-Request"
HEADER_SIGNATURE = "X-EdgeProof-Signature"
MAX_REQUEST_BYTES = 2048
FRESH_S = 300.0  # a statement older or newer than this (receiver clock) is refused: clocks drift, not by more
NONCE_RE = re.compile(r"^[0-9a-f]{32}$")


def request_statement(gateway: str, kid: str, enterprise: str, method: str, path: str, ts: float,
                      nonce: str | None = None) -> dict[str, Any]:
    """The statement for one request: who asks, for what, when, and a fresh nonce."""
    return {"v": REQUEST_VERSION, "gateway": gateway, "kid": kid, "enterprise": enterprise, "method": method,
            "path": path, "time": wire.format_time(ts), "nonce": nonce or secrets.token_hex(16)}


def sign_request(stmt: dict[str, Any], signing_key: SigningKey | wire.MessageSigner) -> dict[str, str]:
    """The two headers carrying ``stmt`` and the gateway's signature of its canonical bytes."""
    check_statement(stmt)
    body = wire.canonical_json(stmt)
    sig = wire.signature(signing_key, REQUEST_PREFIX + body)
    return {HEADER_REQUEST: wire.b64(body), HEADER_SIGNATURE: wire.b64(sig)}


def check_statement(obj: Any) -> dict[str, Any]:
    """The statement's shape, exactly: REQUEST_KEYS and no other, each of its type; else WireError."""
    if not isinstance(obj, dict) or sorted(obj) != list(REQUEST_KEYS):
        raise wire.WireError("bad_request_statement", f"a request statement has exactly the keys {list(REQUEST_KEYS)}")
    if obj["v"] != REQUEST_VERSION or isinstance(obj["v"], bool):
        raise wire.WireError("bad_request_statement", f"unsupported request statement version {obj['v']!r}")
    for k in ("gateway", "kid", "enterprise", "method", "path"):
        if not isinstance(obj[k], str) or not obj[k] or "\x00" in obj[k] or len(obj[k]) > 256:
            raise wire.WireError("bad_request_statement", f"{k} must be a non-empty string (at most 256 characters)")
    if not isinstance(obj["nonce"], str) or not NONCE_RE.match(obj["nonce"]):
        raise wire.WireError("bad_request_statement", "nonce must be 32 lowercase hex characters")
    if wire.parse_time(obj["time"]) is None:
        raise wire.WireError("bad_request_statement", "time must be UTC ISO 8601 with milliseconds and Z")
    return obj


def parse_headers(request_b64: str | None, signature_b64: str | None) -> tuple[bytes, bytes, dict[str, Any]]:
    """The statement bytes, the signature and the decoded statement (shape checked, signature not yet)."""
    import json

    if not request_b64 or not signature_b64:
        raise wire.WireError("unauthenticated", f"a signed request needs the {HEADER_REQUEST} and "
                                                f"{HEADER_SIGNATURE} headers")
    if len(request_b64) > 2 * MAX_REQUEST_BYTES or len(signature_b64) > 200:
        raise wire.WireError("too_large", "request statement headers are too long")
    body = wire.unb64(request_b64, HEADER_REQUEST)
    sig = wire.unb64(signature_b64, HEADER_SIGNATURE)
    try:
        obj = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise wire.WireError("bad_request_statement", f"request statement is not UTF-8 JSON: {exc}") from None
    check_statement(obj)
    if wire.canonical_json(obj) != body:
        raise wire.WireError("bad_request_statement", "request statement is not in canonical JSON")
    if len(sig) != 64:
        raise wire.WireError("bad_signature", "a signature is 64 bytes")
    return body, sig, obj


def verify_request(body: bytes, sig: bytes, public_key: bytes) -> None:
    """WireError 'bad_signature' unless ``sig`` is the key's signature of the statement bytes."""
    try:
        wire.verify_signature(public_key, REQUEST_PREFIX + body, sig)
    except BadSignatureError as exc:
        raise wire.WireError("bad_signature", "request signature does not match the statement") from exc
