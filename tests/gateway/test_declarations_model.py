"""The declaration parser and validator (gateway/declarations/model.py), by property, and the
round trip gateway record -> receiver reading (cloud_stub/declarations.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub.declarations import parse_record
from gateway.declarations import ledger
from gateway.declarations.model import (
    EARLIEST,
    KINDS,
    LATEST,
    MAX_DAYS,
    Declaration,
    DeclarationError,
    parse,
    parse_assets,
    parse_time,
)

times = st.integers(min_value=int(EARLIEST) + 10**7, max_value=int(LATEST) - MAX_DAYS * 86400 - 10**7)
offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
asset_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,20}", fullmatch=True)


def iso_in(ts: int, tz: timezone) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat()


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(KINDS), start=times, length=st.integers(1, MAX_DAYS * 86400), tz=offsets,
       assets=st.lists(asset_names, max_size=5), note=st.text(max_size=50).filter(lambda t: "\x00" not in t))
def test_valid_declarations_parse_to_what_was_meant_in_any_zone(kind, start, length, tz, assets, note) -> None:
    d = parse(kind, iso_in(start, tz), iso_in(start + length, tz), ",".join(assets), note)
    assert d == Declaration(kind, float(start), float(start + length), tuple(sorted(set(assets))), note)
    # What the gateway signs is what the receiver reads back.
    row = {"id": 7, "action": "declare", "kind": d.kind, "start": d.start, "end": d.end, "assets": list(d.assets),
           "declared_at": start - 3600}
    got = parse_record(ledger.record(row, "site"), "gw", 1, False)
    assert got is not None and (got.kind, got.start, got.end, got.assets) == (kind, start, start + length, d.assets)
    assert got.late is False and got.key == "gw/7"


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(KINDS), start=times.map(lambda t: t + 10**6), back=st.integers(0, 10**6))
def test_to_not_after_from_is_refused_naming_to(kind, start, back) -> None:
    try:
        parse(kind, iso_in(start, UTC), iso_in(start - back, UTC))
    except DeclarationError as exc:
        assert exc.key == "to" and "after from" in exc.message
    else:
        raise AssertionError("accepted")


@settings(max_examples=100, deadline=None)
@given(start=times.map(lambda t: t - 10**7), extra=st.integers(1, 10**7))
def test_longer_than_the_limit_is_refused(start, extra) -> None:
    try:
        parse("holiday", iso_in(start, UTC), iso_in(start + MAX_DAYS * 86400 + extra, UTC))
    except DeclarationError as exc:
        assert exc.key == "to" and f"at most {MAX_DAYS} days" in exc.message
    else:
        raise AssertionError("accepted")


@settings(max_examples=300, deadline=None)
@given(kind=st.text(max_size=30))
def test_only_the_four_kinds_are_accepted(kind) -> None:
    try:
        d = parse(kind, "2026-10-01", "2026-10-02")
    except DeclarationError as exc:
        assert kind.strip() not in KINDS and exc.key == "kind"
    else:
        assert d.kind in KINDS


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=40))
def test_any_time_text_parses_in_range_or_names_its_field(text) -> None:
    try:
        ts = parse_time(text, "from")
    except DeclarationError as exc:
        assert exc.key == "from" and exc.message
    else:
        assert EARLIEST <= ts < LATEST


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.none(), st.text(max_size=80)))
def test_any_assets_text_gives_sorted_unique_names_or_names_assets(text) -> None:
    try:
        got = parse_assets(text)
    except DeclarationError as exc:
        assert exc.key == "assets"
    else:
        assert list(got) == sorted(set(got)) and all(a and "," not in a for a in got)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(rec=st.fixed_dictionaries({"name": st.sampled_from(["declaration.declare", "x"]),
                                  "kind": st.sampled_from([*KINDS, "nap"])},
                                 optional={"window": json_values, "assets": json_values, "declared_at": json_values,
                                           "id": json_values}))
def test_the_receiver_reads_any_signed_record_as_a_declaration_or_skips_it(rec) -> None:
    got = parse_record(rec, "gw", 1, True)
    assert got is None or (got.kind in KINDS and got.end > got.start and got.key.startswith("gw/"))
