"""The head-statement worked example of docs/wire-format.md §10.2, checked byte for byte.

With PyNaCl alone (as a bank would), then with our encoder: the document and gateway/wire/__init__.py
cannot drift apart. Kept apart from test_wire_format_doc.py so each section's test reads its
own blocks.
"""

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
SEED = bytes(range(32))


def blocks() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"```([a-z-]+)\n(.*?)\n```", text, re.S)}


def test_the_example_statement_verifies_with_pynacl_alone() -> None:
    b = blocks()
    pk = bytes(SigningKey(SEED).verify_key)
    body = b["headstmt"].encode("utf-8")
    sig = bytes.fromhex(b["headstmt-signature-hex"])
    assert len(body) == 224 and b"\n" not in body
    VerifyKey(pk).verify(b"EdgeProof headstmt v1\x00" + body, sig)
    assert hashlib.sha256(body).hexdigest() == b["headstmt-hash"]
    stmt = json.loads(body)
    assert stmt["hash"] == b["batch-hash"] and stmt["kid"] == b["kid"]  # it states the §6 batch as the head
    assert sorted(stmt) == list(stmt) == ["enterprise", "gateway", "hash", "heads_from", "kid", "seq", "time", "v"]
    env = json.loads(b["headstmt-envelope"])
    assert env["format"] == "edgeproof-headstmt/1" and env["kid"] == stmt["kid"]
    assert base64.b64decode(env["body"]) == body and base64.b64decode(env["sig"]) == sig
    for prefix in (b"EdgeProof batch v1\x00", b"EdgeProof head v1\x00"):
        with pytest.raises(BadSignatureError):
            VerifyKey(pk).verify(prefix + body, sig)


def test_our_encoder_reproduces_the_example_bytes() -> None:
    b = blocks()
    key = SigningKey(SEED)
    stmt = wire.head_statement("gw-example-01", "ent-example", wire.key_id(bytes(key.verify_key)), 1,
                               b["batch-hash"], wire.parse_time("2026-11-27T08:20:00.000Z"), 1)
    signed = wire.sign_head_statement(stmt, key)
    assert signed.body.decode() == b["headstmt"]
    assert signed.sig.hex() == b["headstmt-signature-hex"]
    assert signed.hash == b["headstmt-hash"]
    assert signed.envelope().decode() == b["headstmt-envelope"]
    assert wire.verify_head_statement(wire.parse_head_envelope(b["headstmt-envelope"]), bytes(key.verify_key)) == stmt


def test_the_documented_constants_are_the_codes() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert wire.HEADSTMT_PREFIX == b"EdgeProof headstmt v1\x00" and '"edgeproof-headstmt/1"' in text
    assert f"at most\n{wire.MAX_HEADSTMT_BYTES} bytes" in text
    from cloud_stub import heads

    assert f"{heads.MAX_FUTURE_S:g} s ahead" in text and f"newest {heads.HISTORY}\nstatements" in text
    from cloud_stub import feed_verify_heads

    assert f"over {feed_verify_heads.STALE_NOTICE_S:g} s a notice" in text
