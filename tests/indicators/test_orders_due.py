"""Open orders against due dates and on-time delivery (gateway/indicators/orders_due.py), on a GBK
export imported through the real connector into a real store; values worked out by hand."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.connectors.config import load_connectors
from gateway.connectors.importer import Importer, quarantine_rows
from gateway.indicators.enterprise import compute_enterprise, day_window
from gateway.indicators.orders_due import DUE_BUCKETS, deliveries, due_bucket, open_by_due
from gateway.privacy.policy import Generaliser, PrivacyCfg
from gateway.store import Store
from tests.fixtures.erp.make_fixtures import write_csv
from tests.indicators.helpers import profile

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 12, tzinfo=TZ).timestamp()
PROFILE = profile(timezone="Asia/Shanghai")
HEADER = ["订单号", "客户", "产品", "数量", "单价", "日期", "发货日期", "交货日期"]
COLUMNS = {"order_no": "订单号", "customer": "客户", "product": "产品", "qty": "数量", "unit_price": "单价",
           "order_date": "日期", "shipped_date": "发货日期", "due_date": "交货日期"}
ROWS = [
    ["SO-1", "上海汽车零部件有限公司", "刹车盘 BD-220", 100, 10, "2026-10-01", "", "2026-10-05"],  # overdue
    ["SO-2", "宁波精工机械有限公司", "支架 ZJ-15", 40, 30, "2026-10-02", "2026-10-09", "2026年10月8日"],  # late
    ["SO-3", "苏州博远汽配", "法兰 FL-80", 50, 20, "2026-10-03", "", "2026/10/15"],  # due in 5 days
    ["SO-4", "苏州博远汽配", "刹车盘 BD-220", 10, 100, "2026-10-03", "2026-10-10", "2026-10-20"],  # line on time
    ["SO-4", "苏州博远汽配", "支架 ZJ-15", 30, 10, "2026-10-03", "", "2026-10-25"],  # line open, 15 days
    ["SO-5", "宁波精工机械有限公司", "法兰 FL-80", 7, 100, "2026-10-04", "", "2026-12-01"],  # > 30 days
    ["SO-6", "宁波精工机械有限公司", "法兰 FL-80", 9, 100, "2026-10-05", "", ""],  # no due date
    ["SO-7", "上海汽车零部件有限公司", "支架 ZJ-15", 5, 10, "2026-10-05", "2026-10-09", "2026-10-09"],  # on time
    ["SO-8", "上海汽车零部件有限公司", "支架 ZJ-15", 5, 10, "2026-10-05", "", "2026-13-45"],  # line 10: bad date
]


def _import(importer: Importer, tmp_path: Path, rows: list[list[object]], columns: dict[str, str]) -> list:
    drop = tmp_path / "gw" / "orders"
    drop.mkdir(parents=True, exist_ok=True)
    write_csv(drop / "orders.csv", HEADER, rows, encoding="gbk")
    cfg = load_connectors([{"name": "orders", "kind": "folder", "dataset": "orders", "path": "orders",
                            "columns": columns, "pattern": "*"}])[0]
    return importer.run(cfg, tmp_path / "gw")


def values(store: Store, name: str, d: date) -> dict[str, tuple[float | None, list[str], dict]]:
    s, n = day_window(d, TZ)
    return {subj: (v, json.loads(q or "[]"), json.loads(det or "{}")) for subj, v, q, det in store.db.execute(
        "SELECT subject, value, quality, detail FROM indicators WHERE name=? AND window_start=? AND window_len=?",
        (name, s, n))}


def test_open_orders_by_due_bucket_and_on_time_delivery(store: Store, importer: Importer, tmp_path: Path) -> None:
    [rep] = _import(importer, tmp_path, ROWS, COLUMNS)
    # The bad due date is quarantined with its line (header = line 1), the field and the export's column.
    assert rep.rows_ok == 8 and [ln for ln, _ in rep.quarantined] == [10]
    [q] = quarantine_rows(store, "orders")
    assert q["source"] == "orders.csv" and q["line"] == 10 and "due_date (交货日期)" in q["reason"]
    compute_enterprise(store, PROFILE, ["2026-10-09", "2026-10-10"], NOW)
    d10 = date(2026, 10, 10)
    count = {k: v[0] for k, v in values(store, "erp.orders_open_due_count", d10).items()}
    assert count == {"due:overdue": 1.0, "due:0-7": 1.0, "due:8-30": 1.0, "due:>30": 1.0, "due:none": 1.0}
    qty = {k: v[0] for k, v in values(store, "erp.orders_open_due_qty", d10).items()}
    # SO-4's delivered line (10 units) is not open any more: only its 30 open units count.
    assert qty == {"due:overdue": 100.0, "due:0-7": 50.0, "due:8-30": 30.0, "due:>30": 7.0, "due:none": 9.0}
    amount = {k: v[0] for k, v in values(store, "erp.orders_open_due_amount", d10).items()}
    assert amount == {"due:overdue": 1000.0, "due:0-7": 1000.0, "due:8-30": 300.0, "due:>30": 700.0,
                      "due:none": 900.0}
    # On the 9th SO-4 was wholly open (its earliest due date, the 20th, is 11 days ahead).
    qty9 = {k: v[0] for k, v in values(store, "erp.orders_open_due_qty", date(2026, 10, 9)).items()}
    assert qty9["due:8-30"] == 40.0 and qty9["due:overdue"] == 100.0
    dl9 = {k: v[0] for k, v in values(store, "erp.orders_delivered_count", date(2026, 10, 9)).items()}
    assert dl9 == {"delivery:on_time": 1.0, "delivery:late": 1.0, "delivery:no_due": 0.0}
    dl10 = {k: v[0] for k, v in values(store, "erp.orders_delivered_count", d10).items()}
    assert dl10 == {"delivery:on_time": 1.0, "delivery:late": 0.0, "delivery:no_due": 0.0}


def test_without_due_dates_nothing_is_observed_never_zero(store: Store, importer: Importer, tmp_path: Path) -> None:
    cols = {k: v for k, v in COLUMNS.items() if k != "due_date"}
    [rep] = _import(importer, tmp_path, ROWS, cols)
    assert rep.rows_ok == 9
    compute_enterprise(store, PROFILE, ["2026-10-10"], NOW)
    for name in ("erp.orders_open_due_count", "erp.orders_open_due_qty", "erp.orders_open_due_amount",
                 "erp.orders_delivered_count"):
        got = values(store, name, date(2026, 10, 10))
        assert got and all(v is None and "no_data" in q and det.get("reason") == "no_due_dates"
                           for v, q, det in got.values()), (name, got)


def test_what_leaves_is_bucketed_and_names_no_order(store: Store, importer: Importer, tmp_path: Path) -> None:
    _import(importer, tmp_path, ROWS, COLUMNS)
    compute_enterprise(store, PROFILE, ["2026-10-10"], NOW)
    gen = Generaliser(PrivacyCfg())
    s, n = day_window(date(2026, 10, 10), TZ)
    recs = [{"type": "indicator", "name": name, "subject": subj, "value": v, "unit": unit, "q": [],
             "detail": json.loads(det or "{}")} for name, subj, v, unit, det in store.db.execute(
        "SELECT name, subject, value, unit, detail FROM indicators WHERE window_start=? AND window_len=? AND "
        "(name LIKE 'erp.orders_open_due%' OR name='erp.orders_delivered_count')", (s, n))]
    out = [gen.apply(r) for r in recs]
    amount = next(r for r in out if r["name"] == "erp.orders_open_due_amount" and r["subject"] == "due:overdue")
    assert amount["value"] == 0.0 and amount["detail"]["range"] == [0.0, 10000.0] and "bucketed" in amount["q"]
    overdue = next(r for r in out if r["name"] == "erp.orders_open_due_count" and r["subject"] == "due:overdue")
    assert overdue["value"] is None and "suppressed_small_count" in overdue["q"]  # one order identifies a deal
    text = json.dumps(out, ensure_ascii=False)
    assert not any(x in text for x in ("SO-", "上海", "宁波", "苏州", "刹车盘"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(-5, 40), st.one_of(st.none(), st.integers(0, 30)),
                          st.integers(1, 500)), min_size=1, max_size=25))
def test_every_open_order_lands_in_exactly_one_bucket(orders: list[tuple[int, int, int | None, int]]) -> None:
    day = date(2026, 10, 21)
    lines = []
    for i, (placed, due, shipped, qty) in enumerate(orders):
        lines.append({"order_no": f"O{i}", "order_date": date(2026, 10, 1 + placed).isoformat(),
                      "due_date": date.fromordinal(day.toordinal() + due).isoformat(), "qty": qty, "amount": qty,
                      "shipped_date": None if shipped is None else date(2026, 10, 1 + shipped).isoformat()})
    got = open_by_due(lines, day)
    open_ = [ln for ln in lines if ln["shipped_date"] is None or ln["shipped_date"] > day.isoformat()]
    assert sum(got[b][0] for b in DUE_BUCKETS) == len(open_)
    assert sum(got[b][1] for b in DUE_BUCKETS) == sum(ln["qty"] for ln in open_)
    assert got["overdue"][0] == sum(1 for ln in open_ if ln["due_date"] < day.isoformat())
    d = deliveries(lines, day, day)
    assert d["on_time"] + d["late"] == sum(1 for ln in lines if ln["shipped_date"] == day.isoformat())
    assert due_bucket(None, day) == "none" and due_bucket(day, day) == "0-7"
