"""Structured log lines: JSON, secrets redacted, paths and public hashes kept readable."""

from __future__ import annotations

import json
import logging

from nacl.signing import SigningKey

from gateway import wire
from gateway.logs import JsonFormatter


def line(msg: str, **extra: object) -> dict:
    rec = logging.LogRecord("edgeproof.test", logging.INFO, __file__, 1, msg, None, None)
    for k, v in extra.items():
        setattr(rec, k, v)
    return json.loads(JsonFormatter().format(rec))


def test_key_material_and_token_fields_never_reach_a_line() -> None:
    sk = SigningKey.generate()
    seed_b64, seed_hex = wire.b64(bytes(sk)), bytes(sk).hex()
    out = line(f"oops {seed_b64} {seed_hex}", token="tok-123", error=f"bad {seed_hex}", authorization="Bearer x")
    text = json.dumps(out)
    assert seed_b64 not in text and seed_hex not in text and "tok-123" not in text and "Bearer x" not in text
    assert out["token"] == "[redacted]" and out["level"] == "info"


def test_paths_and_public_hashes_stay_readable() -> None:
    path = "/var/lib/edgeproof/profiles/a-very-long-profile-name-for-the-second-workshop.toml"
    h = "f690bd96e2e1d138a0f4cb102fd7cbaa17a7a01d54658e1f6a118033e6c28b07"
    out = line(f"profile rejected: {path}", hash=h, kid="ed25519:56475aa75463474c")
    assert path in out["msg"] and out["hash"] == h and out["kid"] == "ed25519:56475aa75463474c"
