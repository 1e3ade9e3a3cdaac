"""Property-based tests (Hypothesis) of the head-statement parser in gateway/wire/__init__.py.

A receiver parses head statements from anyone who can reach it, and a bank parses what the
receiver serves: whatever the bytes, the parser answers a statement or a WireError, never
another exception, and a statement it accepts is exactly one the gateway's key signed.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from gateway import wire

KEY = SigningKey(bytes(range(32)))
KID = wire.key_id(bytes(KEY.verify_key))
PK = bytes(KEY.verify_key)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.text(string.ascii_letters + string.digits + "._:-", min_size=1, max_size=40)
hashes = st.text("0123456789abcdef", min_size=64, max_size=64)
times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@st.composite
def statements(draw: Any) -> dict[str, Any]:
    return wire.head_statement(draw(ids), draw(ids), KID, draw(st.integers(1, 2**63 - 1)), draw(hashes),
                               draw(times).timestamp(), draw(st.integers(1, 2**63 - 1)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=6),
    max_leaves=20)


@FAST
@given(statements())
def test_a_signed_statement_round_trips_exactly(stmt: dict[str, Any]) -> None:
    signed = wire.sign_head_statement(stmt, KEY)
    back = wire.parse_head_envelope(signed.envelope())
    assert back == signed
    assert wire.verify_head_statement(back, PK) == stmt
    assert signed.body == wire.canonical_json(stmt)
    assert wire.format_time(wire.parse_time(stmt["time"])) == stmt["time"]


@FAST
@given(statements(), st.data())
def test_any_changed_byte_of_a_signed_statement_fails(stmt: dict[str, Any], data: Any) -> None:
    signed = wire.sign_head_statement(stmt, KEY)
    body = bytearray(signed.body)
    i = data.draw(st.integers(0, len(body) - 1))
    body[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(wire.WireError):
        wire.verify_head_statement(wire.SignedHeadStatement(bytes(body), signed.sig, signed.kid), PK)


@FAST
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_a_statement_or_a_wire_error(data: bytes) -> None:
    for parse in (wire.decode_head_statement, wire.parse_head_envelope):
        try:
            parse(data)
        except wire.WireError:
            pass


@FAST
@given(json_values)
def test_arbitrary_json_is_refused_unless_it_is_a_well_formed_statement(obj: Any) -> None:
    try:
        body = wire.canonical_json(obj)
    except wire.WireError:
        return
    with pytest.raises(wire.WireError):
        wire.decode_head_statement(body)  # random JSON never has the exact keys and types
    env = {"format": wire.HEADSTMT_FORMAT, "kid": KID, "body": wire.b64(body), "sig": wire.b64(b"\0" * 64)}
    with pytest.raises(wire.WireError):
        wire.verify_head_statement(wire.parse_head_envelope(json.dumps(env)), PK)


BAD_VALUES = {
    "v": [2, 0, True, "1", 1.0, None], "gateway": ["", 7, None, "a\x00b", "x" * 257],
    "enterprise": ["", [], None], "kid": ["", 1], "seq": [0, -1, True, 1.5, "3", 2**63],
    "hash": ["A" * 64, "0" * 63, "g" * 64, None], "time": ["2026-11-27T08:15:02Z", "2026-11-27T08:15:02.125+00:00",
                                                          "2026-02-30T08:15:02.125Z", 1764230400, ""],
    "heads_from": [0, False, None, "1", 2**63],
}


@FAST
@given(statements(), st.sampled_from(sorted(BAD_VALUES)), st.data())
def test_a_field_of_the_wrong_type_or_range_is_refused_even_when_signed(stmt: dict[str, Any], field: str,
                                                                        data: Any) -> None:
    bad = {**stmt, field: data.draw(st.sampled_from(BAD_VALUES[field]))}
    body = json.dumps(bad, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    signed = wire.SignedHeadStatement(body, KEY.sign(wire.HEADSTMT_PREFIX + body).signature, KID)
    with pytest.raises(wire.WireError) as err:
        wire.verify_head_statement(signed, PK)
    assert err.value.code in ("bad_statement", "kid_mismatch")


@FAST
@given(statements(), st.sampled_from(["extra", "records", "prev"]))
def test_an_extra_or_missing_key_is_refused(stmt: dict[str, Any], extra: str) -> None:
    with pytest.raises(wire.WireError, match="keys must be"):
        wire.check_head_statement({**stmt, extra: 1})
    with pytest.raises(wire.WireError, match="keys must be"):
        wire.check_head_statement({k: v for k, v in stmt.items() if k != "time"})


def test_other_signatures_of_the_same_bytes_do_not_pass_for_a_statement() -> None:
    """Domain separation: the batch, head and report prefixes sign other messages."""
    stmt = wire.head_statement("gw", "ent", KID, 3, "a" * 64, 1764230400.0, 1)
    body = wire.canonical_json(stmt)
    for prefix in (wire.SIGN_PREFIX, wire.HEAD_PREFIX, wire.REPORT_PREFIX, wire.ENROLL_PREFIX, b""):
        with pytest.raises(wire.WireError, match="bad_signature"):
            wire.verify_head_statement(wire.SignedHeadStatement(body, KEY.sign(prefix + body).signature, KID), PK)
