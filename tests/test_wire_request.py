"""The gateway-signed request statement (gateway/wire/request.py): what is signed is what is parsed,
and no other bytes, key, method or path pass for it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from gateway import wire
from gateway.wire import request as wire_request

KEY = SigningKey.generate()
names = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(gateway=names, enterprise=names, path=names, ts=st.floats(946684800, 4102444800), flip=st.integers(0, 10_000))
def test_what_is_signed_is_what_is_parsed_and_one_flipped_byte_fails(gateway, enterprise, path, ts, flip):
    kid = wire.key_id(bytes(KEY.verify_key))
    stmt = wire_request.request_statement(gateway, kid, enterprise, "GET", path, ts)
    headers = wire_request.sign_request(stmt, KEY)
    body, sig, parsed = wire_request.parse_headers(headers[wire_request.HEADER_REQUEST],
                                                   headers[wire_request.HEADER_SIGNATURE])
    assert parsed == stmt and body == wire.canonical_json(stmt)
    wire_request.verify_request(body, sig, bytes(KEY.verify_key))
    bad = bytearray(body)
    bad[flip % len(bad)] ^= 0x01
    with pytest.raises(wire.WireError):
        wire_request.verify_request(bytes(bad), sig, bytes(KEY.verify_key))
    with pytest.raises(wire.WireError, match="bad_signature"):
        wire_request.verify_request(body, sig, bytes(SigningKey.generate().verify_key))


@pytest.mark.parametrize("change", [
    {"v": 2}, {"v": True}, {"nonce": "ABC"}, {"nonce": "0" * 31}, {"time": "2026-11-27T00:00:00Z"},
    {"gateway": ""}, {"path": "x" * 257}, {"method": None}, {"extra": 1},
])
def test_a_malformed_statement_is_refused_before_any_key_is_looked_up(change):
    stmt = {**wire_request.request_statement("gw", "ed25519:00", "ent", "GET", "/v1/enterprise/view", 1.8e9),
            **change}
    with pytest.raises(wire.WireError, match="bad_request_statement"):
        wire_request.check_statement(stmt)


def test_a_non_canonical_statement_is_refused():
    stmt = wire_request.request_statement("gw", "ed25519:00", "ent", "GET", "/p", 1.8e9)
    import json

    loose = json.dumps(stmt, indent=1).encode()
    with pytest.raises(wire.WireError, match="canonical"):
        wire_request.parse_headers(wire.b64(loose), wire.b64(bytes(64)))
