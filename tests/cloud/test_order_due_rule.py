"""repay_order_due and the order-progress section on synthetic due-date records delivered through the
receiver's real ingest: thresholds at their edges, small counts suppressed as the gateway sends them,
quiet on a steady overdue tail and on a one-off late truck, "not observed" without due dates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from repayment_helpers import DAY, ErpFactory, count, deliver
from rule_inputs_helpers import DAY0, evidence, push, rec

from cloud_stub.db import ReceiverDB
from cloud_stub.feed_verify_orders import against_records, arithmetic
from cloud_stub.repayment import orders
from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules.repay_order_due import OrderDue

DAYS = 42
AS_OF = DAY0 + DAYS * DAY


def due_records(overdue: Callable[[int], float], late: Callable[[int], float] = lambda d: 0.0,
                dated: float = 30000.0, null: bool = False) -> list[dict[str, Any]]:
    """Per day: open quantity by due bucket (``overdue(d)`` of ``dated`` overdue), deliveries (4 a day)."""
    out: list[dict[str, Any]] = []
    for d in range(DAYS):
        t = DAY0 + d * DAY
        od = dated * overdue(d)
        qty = {"overdue": od, "0-7": (dated - od) * 0.6, "8-30": (dated - od) * 0.4, ">30": 0.0, "none": 0.0}
        for b, v in qty.items():
            out.append(rec(orders.OPEN_QTY, "erp", f"due:{b}", t, DAY, None if null else round(v, 2), "units",
                           ["no_data"] if null else []))
        out.append(count(orders.OPEN_COUNT, t, 0 if null else round(od / 3000), "due:overdue"))
        n_late = late(d)
        for k, v in (("on_time", 4 - n_late), ("late", n_late), ("no_due", 0)):
            out.append(rec(orders.DELIVERED, "erp", f"delivery:{k}", t, DAY, None, "count", ["no_data"]) if null
                       else count(orders.DELIVERED, t, v, f"delivery:{k}"))
    return out


def assess(tmp_path: Path, extra: list[dict[str, Any]]) -> tuple[list[Any], RepaymentInputs]:
    rdb = ReceiverDB(tmp_path / "r.db")
    try:
        gw = deliver(rdb, ErpFactory(days=DAYS))
        push(rdb, gw, extra)
        ev = evidence(rdb, days=DAYS)
    finally:
        rdb.close()
    ri = RepaymentInputs(ev, AS_OF, [])
    return OrderDue().evaluate(ri, dict(OrderDue.defaults)), ri


def test_overdue_piling_up_is_graded_by_its_mean_rise(tmp_path: Path) -> None:
    # A steady 5 % tail, then from day 35 the overdue share climbs to 35 % and stays.
    found, _ = assess(tmp_path, due_records(lambda d: 0.05 if d < 35 else min(0.35, 0.05 + 0.1 * (d - 34))))
    [f] = [f for f in found if f.key.startswith("overdue:")]
    # last 5 days: 0.35 each (days 37-41), baseline 0.05: rise 0.30 >= 0.25 -> orange
    assert f.severity == "orange" and f.statistic["mean_rise"] == 0.3 and f.compared["overdue_share_baseline"] == 0.05


def test_a_steady_tail_and_a_one_off_late_truck_stay_quiet(tmp_path: Path) -> None:
    spike = {38: 0.4, 39: 0.3}
    found, ri = assess(tmp_path, due_records(lambda d: spike.get(d, 0.08)))
    assert found == []
    oo = orders.open_orders(ri, {"assessed": True, "level": 0.9, "next_30d": {"total": 20000.0, "lower": 15000.0,
                                                                              "upper": 26000.0}})
    assert oo["assessed"] and oo["overdue_qty"] == 2400.0 and oo["due_within_30d_qty"] == 30000.0
    # 30,000 units due against 15,000-26,000 forecast: shortfall 10,000 (4,000-15,000)
    assert oo["shortfall"] == {"expected": 10000.0, "lower": 4000.0, "upper": 15000.0, "level": 0.9}
    assert oo["deliveries"] == {"on_time": 120.0, "late": 0.0, "on_time_rate": 1.0}
    assert arithmetic({"repayment": {"open_orders": oo, "forecasts": {"production": {
        "next_30d": {"total": 20000.0, "lower": 15000.0, "upper": 26000.0}}}}}) == []


def test_on_time_delivery_falling_counts_suppressed_late_as_one(tmp_path: Path) -> None:
    # From day 32, 2 of 4 deliveries a day are late: the gateway suppresses both counts (1-2), the rule reads 1 + 1.
    found, _ = assess(tmp_path, due_records(lambda d: 0.0, late=lambda d: 2 if d >= 32 else 0))
    [f] = [f for f in found if f.key.startswith("on_time:")]
    assert f.compared["late_recent"] == 10.0 and f.compared["on_time_recent"] == 10.0
    assert f.statistic["on_time_rate_recent"] == 0.5 and f.statistic["drop"] == 0.5 and f.severity == "red"


def test_without_due_dates_the_rule_is_not_observed(tmp_path: Path) -> None:
    found, ri = assess(tmp_path, due_records(lambda d: 0.0, null=True))
    assert found == [] and not OrderDue().observed(ri)
    oo = orders.open_orders(ri, {"assessed": False, "reason": "x"})
    assert oo["assessed"] is False and "no open orders by due date" in oo["reason"]
    assert arithmetic({"repayment": {"open_orders": oo}}) == []
    assert arithmetic({"repayment": {"open_orders": {**oo, "overdue_qty": 0.0}}}) != []


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                     max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["assessed", "horizon_days", "open_qty_by_due", "due_within_30d_qty",
                                        "overdue_qty", "shortfall", "production_forecast", "shipments", "deliveries",
                                        "as_of_day"]), _json, max_size=10), _json)
@example({"assessed": True, "horizon_days": 30, "open_qty_by_due": {"overdue": 1, "0-7": 1, "8-30": 1, ">30": 1},
          "due_within_30d_qty": 3, "overdue_qty": 1, "shortfall": {}, "production_forecast": {}}, [1])
@example({"assessed": True, "horizon_days": float("inf")}, {})
@example({"assessed": True, "as_of_day": "x", "open_qty_by_due": []}, None)
def test_a_hostile_section_is_reported_never_a_crash(section: dict[str, Any], forecasts: Any) -> None:
    """What a receiver serves is untrusted: the V55-V56 checks name the problem and never raise."""
    report = {"repayment": {"open_orders": section, "forecasts": forecasts}, "inputs": {"max_record_id": 5}}
    assert isinstance(arithmetic(report), list)
    assert isinstance(against_records(report, {("due:overdue", 0): [(1, "x")]}), list)
