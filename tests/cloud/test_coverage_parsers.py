"""The price CSV and facility document parsers, and the coverage arithmetic, on generated input (Hypothesis).

Bad input gets a ReceiverError naming the file, line and column (or the key); nothing else escapes. A
missing price or weight is never a zero coverage; the level follows the thresholds.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub import collateral_value, facilities, portfolio, prices
from cloud_stub.errors import ReceiverError

FAC = {"facility_id": "f1", "bank": "b", "enterprise_id": "e", "currency": "CNY", "amount": 100.0, "drawn": 100.0,
       "covenants": {"max_price_age_days": 3},
       "pledges": [{"subject": "s", "product_class": "c", "indicator": "collateral.weight_kg", "unit": "kg",
                    "price_source": "csv"}]}
TH = {"yellow": 1.3, "orange": 1.15, "red": 1.0}


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_csv_text_parses_or_names_file_and_line(text: str) -> None:
    try:
        out = prices.parse_csv(text, "p.csv")
    except ReceiverError as exc:
        assert exc.code == "bad_prices" and exc.message.startswith("p.csv")
        return
    for p in out:
        assert p.price > 0 and math.isfinite(p.price) and p.unit in ("kg", "unit")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.dates().map(str), st.sampled_from(["cu", "al"]),
                          st.floats(min_value=0.01, max_value=1e6, allow_nan=False)), min_size=1, max_size=5))
def test_good_rows_round_trip(rows: list[tuple[str, str, float]]) -> None:
    text = "day,product_class,price,currency,unit\n" + "".join(f"{d},{c},{v!r},CNY,kg\n" for d, c, v in rows)
    out = prices.parse_csv(text)
    assert [(p.day, p.product_class, p.price) for p in out] == rows


def test_a_bad_cell_names_line_and_column() -> None:
    with pytest.raises(ReceiverError, match=r"p.csv line 3: column price: expected a number > 0, got '-1'"):
        prices.parse_csv("day,product_class,price,currency,unit\n2026-09-01,cu,1,CNY,kg\n2026-09-02,cu,-1,CNY,kg\n",
                         "p.csv")
    with pytest.raises(ReceiverError, match="missing unit"):
        prices.parse_csv("day,product_class,price,currency\n", "p.csv")


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                    max_leaves=12))
def test_any_facility_document_is_accepted_or_refused_with_a_400(doc: object) -> None:
    try:
        out = facilities.parse(doc)
    except ReceiverError as exc:
        assert exc.http_status == 400 and exc.code == "bad_facility"
        return
    assert out["drawn"] <= out["amount"]


@settings(max_examples=200, deadline=None)
@given(qty=st.none() | st.floats(min_value=0, max_value=1e5), price=st.none() | st.floats(min_value=0.01,
                                                                                           max_value=1e3),
       drawn=st.floats(min_value=0, max_value=1e7), age=st.integers(0, 10))
def test_coverage_arithmetic(qty: float | None, price: float | None, drawn: float, age: int) -> None:
    q = None if qty is None else {"value": qty, "window": {"start": 0, "end": 3600}}
    p = None if price is None else {"day": "2026-09-01", "price": price, "currency": "CNY", "unit": "kg",
                                    "source": "csv", "age_days": age}
    a = collateral_value.assess({**FAC, "drawn": drawn}, {"collateral.weight_kg|s": q}, {"c": p}, TH, 3600)
    if qty is None or price is None:
        assert a["value"] is None and a["coverage"] is None and "no_data" in a["flags"]  # never 0
        assert a["level"] == "not_observed" and a["observed"] == {"pledges": 1, "observed": 0}
    else:
        assert a["value"] == pytest.approx(qty * price)
        if drawn > 0:
            assert a["coverage"] == pytest.approx(qty * price / drawn)
            want = next((lv for lv in ("red", "orange", "yellow") if a["coverage"] < TH[lv]), "ok")
            assert a["level"] == want
        lo, hi = collateral_value.served(a)["value_range"]
        assert lo <= a["value"] and (hi is None or a["value"] < hi)
    assert ("stale_price" in a["flags"]) == (price is not None and age > 3)


def test_levels_from_covenants() -> None:
    assert facilities.levels({}) == TH
    assert facilities.levels({"min_coverage": 1.5}) == {"yellow": 1.5, "orange": 1.15, "red": 1.0}
    assert facilities.levels({"min_coverage": 1.1}) == {"yellow": 1.1, "orange": 1.1, "red": 1.0}
    assert facilities.levels({"margin_call": {"yellow": 2, "orange": 1.5, "red": 1.2}})["red"] == 1.2


def test_portfolio_changes() -> None:
    now = {"authenticity": {"score": 600, "grade": "B", "warning_level": "green"}, "repayment": {"status": "x"},
           "coverage": {"facilities": [{"facility_id": "f", "level": "ok", "coverage": 1.5}]}}
    assert portfolio.changes(None, now) == [{"field": "enterprise", "before": None, "after": "new"}]
    before = {**now, "coverage": {"facilities": [{"facility_id": "f", "level": "red", "coverage": 0.9}]}}
    assert portfolio.changes(before, now) == [
        {"field": "facility.f.level", "before": "red", "after": "ok"},
        {"field": "facility.f.coverage", "before": 0.9, "after": 1.5}]
    assert portfolio.changes(now, now) == []
