"""MES and ERP indicators on the small fixtures in tests/fixtures/erp, values worked out by hand."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.connectors.config import load_connectors
from gateway.connectors.importer import Importer
from gateway.indicators.enterprise import compute_enterprise, day_window, month_window
from gateway.indicators.erp import hhi
from gateway.store import Store
from tests.fixtures.erp.make_fixtures import write_csv
from tests.indicators.helpers import profile

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "erp"
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 12, tzinfo=TZ).timestamp()
PROFILE = profile(timezone="Asia/Shanghai")
ORDERS = {"order_no": "订单号", "customer": "客户", "product": "产品", "qty": "数量", "unit_price": "单价",
          "order_date": "日期"}


def _connector(name: str, dataset: str, path: str, columns: dict[str, str], **kw: object):  # noqa: ANN202
    return load_connectors([{"name": name, "kind": "folder", "dataset": dataset, "path": path, "columns": columns,
                             **kw}])[0]


def _import(importer: Importer, tmp_path: Path, name: str, dataset: str, files: list[str],
            columns: dict[str, str], **kw: object) -> None:
    drop = tmp_path / "gw" / name
    drop.mkdir(parents=True, exist_ok=True)
    for f in files:
        (drop / f).write_bytes((FIX / f).read_bytes())
    reports = importer.run(_connector(name, dataset, name, columns, pattern="*", **kw), tmp_path / "gw")
    assert all(r.status == "imported" for r in reports), [r.as_dict() for r in reports]


def value(store: Store, name: str, window: tuple[int, int], subject: str = "enterprise") -> float | None:
    row = store.db.execute("SELECT value FROM indicators WHERE name=? AND subject=? AND window_start=? "
                           "AND window_len=?", (name, subject, *window)).fetchone()
    assert row is not None, (name, subject, window)
    return row[0]


def day(d: int, m: int = 10) -> tuple[int, int]:
    return day_window(date(2026, m, d), TZ)


OCT = month_window(date(2026, 10, 1), TZ)


def test_windows_are_local_days_and_months() -> None:
    s, n = day(5)
    assert datetime.fromtimestamp(s, TZ).isoformat() == "2026-10-05T00:00:00+08:00" and n == 86400
    assert OCT[1] == 31 * 86400


def test_order_amounts_and_customer_concentration(store: Store, importer: Importer, tmp_path: Path) -> None:
    _import(importer, tmp_path, "orders", "orders", ["orders_utf8.csv"], ORDERS)
    compute_enterprise(store, PROFILE, ["2026-10-05", "2026-10-06"], NOW)
    assert value(store, "erp.order_amount", day(5)) == 2450.0  # 100 x 12.5 + 40 x 30
    assert value(store, "erp.order_amount", day(6)) == 11050.0  # 10 x 1,000 + 5 x 200 + 1 x ¥50
    assert value(store, "erp.order_amount", OCT) == 13500.0
    # customers: 上海 11,250 (two orders), 宁波 1,200, ACME 1,000 (full-width ＡＣＭＥ is the same
    # customer), 苏州 50 -> shares 83.33 %, 8.89 %, 7.41 %, 0.37 %
    expected = (11250 / 135) ** 2 + (1200 / 135) ** 2 + (1000 / 135) ** 2 + (50 / 135) ** 2
    assert value(store, "erp.customer_hhi", OCT) == round(expected, 1) == 7078.5
    assert value(store, "erp.orders_stage_count", day(5), "stage:order") == 2.0
    assert value(store, "erp.orders_stage_count", day(6), "stage:order") == 3.0


def test_hhi_extremes() -> None:
    assert hhi({"a": 5.0}) == 10000.0
    assert hhi({"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}) == pytest.approx(2500.0)
    assert hhi({}) is None


def test_mes_production_quality_and_time(store: Store, importer: Importer, tmp_path: Path) -> None:
    _import(importer, tmp_path, "mes", "production", ["production_gbk.csv"],
            {"work_order": "工单号", "date": "日期", "product": "产品", "good_qty": "良品数", "scrap_qty": "废品数",
             "planned_min": "计划工时", "run_min": "实际工时"}, encoding="gbk")
    compute_enterprise(store, PROFILE, ["2026-10-05", "2026-10-06"], NOW)
    assert value(store, "mes.good_qty", day(5)) == 800.0
    assert value(store, "mes.scrap_qty", day(5)) == 30.0
    assert value(store, "mes.quality_rate_pct", day(5)) == round(100 * 800 / 830, 4)
    assert value(store, "mes.planned_min", day(5)) == 1080.0
    assert value(store, "mes.run_min", day(5)) == 940.0
    assert value(store, "mes.run_vs_planned_pct", day(5)) == round(100 * 940 / 1080, 4)
    per_product = dict(store.db.execute("SELECT subject, value FROM indicators WHERE name='mes.produced_qty' "
                                        "AND window_start=?", (day(5)[0],)).fetchall())
    assert sorted(per_product.values()) == [310.0, 520.0]
    assert all(s.startswith("product:p_") for s in per_product)  # tokens, never names
    assert value(store, "mes.good_qty", OCT) == 1250.0


def test_receivables_ageing_and_dso(store: Store, importer: Importer, tmp_path: Path) -> None:
    _import(importer, tmp_path, "ar", "receivables", ["receivables.csv"],
            {"invoice_no": "发票号", "customer": "客户", "amount": "金额", "invoice_date": "开票日期",
             "due_date": "到期日", "paid_date": "回款日期"})
    compute_enterprise(store, PROFILE, ["2026-10-31"], NOW)
    # as of 31 Oct: INV-1 due that day (current), INV-2 30 days late, INV-5 47, INV-3 92; INV-4 paid
    for window in (OCT, day(31)):
        got = {b: value(store, "erp.receivables_ageing_amount", window, f"ageing:{b}")
               for b in ("current", "1-30", "31-60", "61-90", ">90")}
        assert got == {"current": 10000.0, "1-30": 5000.0, "31-60": 3000.0, "61-90": 0.0, ">90": 2000.0}
        assert value(store, "erp.receivables_ageing_count", window, "ageing:>90") == 1.0
        assert value(store, "erp.receivables_open_amount", window) == 20000.0
    # invoiced in October: 10,000 + 8,000 over 31 days; open 20,000 -> 20,000 / (18,000 / 31)
    assert value(store, "erp.dso_days", OCT) == round(20000 / (18000 / 31), 2) == 34.44


def test_order_stages_price_index_and_supplier_concentration(store: Store, importer: Importer,
                                                               tmp_path: Path) -> None:
    drop = tmp_path / "gw" / "o"
    write_csv(drop / "o.csv", ["订单号", "客户", "产品", "数量", "单价", "日期", "发货日期", "回款日期"], [
        ["S1", "甲", "P", 10, 10.0, "2026-09-10", "2026-09-20", "2026-10-05"],
        ["S2", "乙", "P", 30, 10.0, "2026-09-11", "2026-10-02", ""],
        ["S3", "甲", "P", 20, 11.5, "2026-10-03", "", ""],
        ["S4", "乙", "P", 20, 10.5, "2026-10-04", "2026-10-05", ""],
    ])
    cols = {**ORDERS, "shipped_date": "发货日期", "paid_date": "回款日期"}
    importer.run(_connector("o", "orders", "o", cols), tmp_path / "gw")
    drop = tmp_path / "gw" / "po"
    write_csv(drop / "po.csv", ["采购单号", "日期", "供应商", "金额"], [
        ["PO1", "2026-10-01", "钢厂A", "60,000"], ["PO2", "2026-10-09", "钢厂B", "20,000"],
        ["PO3", "2026-10-20", "钢厂A", "20,000"]])
    importer.run(_connector("po", "purchases", "po", {"po_no": "采购单号", "date": "日期", "supplier": "供应商",
                                                       "amount": "金额"}), tmp_path / "gw")
    compute_enterprise(store, PROFILE, ["2026-09-10", "2026-10-05"], NOW)
    # October: average price (20 x 11.5 + 20 x 10.5) / 40 = 11.0 against September's 10.0
    [(subject, idx)] = store.db.execute("SELECT subject, value FROM indicators WHERE name='erp.price_index' AND "
                                        "window_start=?", (OCT[0],)).fetchall()
    assert subject.startswith("product:p_") and idx == pytest.approx(110.0)
    # stage flows in October: 2 new orders, 2 shipped (S2 on 2 Oct, S4 on 5 Oct), 1 paid (S1)
    assert value(store, "erp.orders_stage_count", OCT, "stage:order") == 2.0
    assert value(store, "erp.orders_stage_count", OCT, "stage:ship") == 2.0
    assert value(store, "erp.orders_stage_count", OCT, "stage:payment") == 1.0
    assert value(store, "erp.orders_open", OCT) == 3.0  # S2, S3, S4 unpaid at the end of October
    assert value(store, "erp.orders_open", day(5)) == 3.0
    # where the open orders stand at the end of October: S2 and S4 shipped, S3 only ordered
    assert value(store, "erp.orders_open_by_stage", OCT, "stage:ship") == 2.0
    assert value(store, "erp.orders_open_by_stage", OCT, "stage:order") == 1.0
    assert value(store, "erp.orders_open_by_stage", OCT, "stage:check") == 0.0
    # on 10 September only S1 existed, just ordered
    assert value(store, "erp.orders_open_by_stage", day(10, 9), "stage:order") == 1.0
    assert value(store, "erp.orders_open_by_stage", day(10, 9), "stage:ship") == 0.0
    # suppliers: A 80 %, B 20 % -> 6400 + 400
    assert value(store, "erp.supplier_hhi", OCT) == 6800.0
    detail = json.loads(store.db.execute("SELECT detail FROM indicators WHERE name='erp.supplier_hhi'").fetchone()[0])
    assert detail == {"period": "month"}


def test_open_windows_are_not_computed(store: Store, importer: Importer, tmp_path: Path) -> None:
    _import(importer, tmp_path, "orders", "orders", ["orders_utf8.csv"], ORDERS)
    early = datetime(2026, 10, 6, 12, tzinfo=TZ).timestamp()  # 6 Oct and October still open
    compute_enterprise(store, PROFILE, ["2026-10-05", "2026-10-06"], early)
    windows = {r[0] for r in store.db.execute("SELECT DISTINCT window_start FROM indicators")}
    assert windows == {day(5)[0]}


def test_shipments(store: Store, importer: Importer, tmp_path: Path) -> None:
    drop = tmp_path / "gw" / "dn"
    write_csv(drop / "dn.csv", ["发货单号", "日期", "客户", "产品", "数量"], [
        ["DN1", "2026-10-05", "甲", "P", 100], ["DN1", "2026-10-05", "甲", "Q", 20],  # one shipment, two lines
        ["DN2", "2026-10-05", "乙", "P", 5], ["DN3", "2026-10-06", "甲", "P", 7]])
    importer.run(_connector("dn", "shipments", "dn", {"ship_no": "发货单号", "date": "日期", "customer": "客户",
                                                       "product": "产品", "qty": "数量"}), tmp_path / "gw")
    compute_enterprise(store, PROFILE, ["2026-10-05", "2026-10-06"], NOW)
    assert value(store, "erp.shipments_count", day(5)) == 2.0
    assert value(store, "erp.shipped_qty", day(5)) == 125.0
    assert value(store, "erp.shipments_count", OCT) == 3.0 and value(store, "erp.shipped_qty", OCT) == 132.0
