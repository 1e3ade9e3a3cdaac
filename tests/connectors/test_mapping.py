"""Exports as plants write them: units, derived fields, encodings and the product master.

Fixtures (tests/fixtures/erp/make_fixtures.py, write_mapping_fixtures): the MES in GBK with
hours and completed/good quantities, the ERP's shipments as Excel's CSV UTF-8 (BOM) with
amounts in 万元, the item master in GBK. Imports go through the real importer and the real
`edgeproof import-erp` command; indicators through compute_enterprise.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.commands.import_erp import command as import_erp
from gateway.connectors.config import load_connectors
from gateway.connectors.importer import Importer, quarantine_rows
from gateway.connectors.readers import SourceError, read_csv
from gateway.indicators.enterprise import compute_enterprise
from gateway.profile import ProfileError, load_profile
from gateway.store import Store
from tests.indicators.helpers import profile

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "erp"
LATER = 1793000000.0  # 2026-10-26: both days of the fixtures have closed

MES = {"work_order": "工单号", "date": "生产日期", "shift": "班次", "product": "产品名称",
       "planned_qty": "计划数量", "completed_qty": "完工数量", "good_qty": "良品数量",
       "scrap_qty": {"expr": "completed_qty - good_qty"},
       "planned_min": {"column": "计划工时(小时)", "unit": "h"},
       "run_min": {"column": "实际工时(小时)", "unit": "小时"}}
SHIP = {"ship_no": "发货单号", "date": "发货日期", "customer": "客户名称", "product": "物料名称", "qty": "发货数量",
        "amount": {"column": "金额(万元)", "unit": "万元"}}
MASTER = {"product": "物料名称", "units_per_pack": "每包数量", "units_per_pallet": "每托数量",
          "unit_weight_kg": {"column": "单重(kg)", "unit": "kg"}}


def cfg(name: str, dataset: str, columns: dict, **kw: object):  # noqa: ANN201
    return load_connectors([{"name": name, "kind": "folder", "dataset": dataset, "path": name, "pattern": "*",
                             "columns": columns, **kw}])[0]


def drop(tmp_path: Path, folder: str, *files: str) -> None:
    d = tmp_path / "gw" / folder
    d.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(FIX / f, d / f)


def stored(store: Store, connector: str) -> dict[str, dict]:
    return {k: json.loads(f) for k, f in store.db.execute(
        "SELECT key, fields FROM erp_rows WHERE connector=? ORDER BY key", (connector,))}


def indicator(store: Store, name: str, day_start: str) -> tuple[float | None, list[str], dict]:
    got = store.db.execute("SELECT value, quality, detail FROM indicators WHERE name=? AND subject='enterprise' "
                           "AND json_extract(detail, '$.period')='day' AND date(window_start + 28800, 'unixepoch')=?",
                           (name, day_start)).fetchone()
    assert got is not None, f"no {name} for {day_start}"
    return got[0], json.loads(got[1]), json.loads(got[2])


def test_gbk_mes_with_hours_and_derived_scrap(store: Store, importer: Importer, tmp_path: Path) -> None:
    drop(tmp_path, "mes", "mes_shift_gbk.csv")
    [rep] = importer.run(cfg("mes", "production", MES, encoding="gbk"), tmp_path / "gw")
    assert rep.status == "imported" and rep.rows_ok == 3
    # WO-2610-04 reports 190 good of 180 completed: the derived scrap is negative, the line says so
    assert rep.quarantined == [(5, "scrap_qty (= completed_qty - good_qty) is negative: -10.0")]
    rows = stored(store, "mes")
    assert rows["WO-2610-01"] == {"work_order": "WO-2610-01", "date": "2026-10-05", "shift": "早班",
                                  "product": rows["WO-2610-01"]["product"], "planned_qty": 520.0,
                                  "completed_qty": 515.0, "good_qty": 500.0, "scrap_qty": 15.0,
                                  "planned_min": 480.0, "run_min": 450.0}
    assert rows["WO-2610-02"]["run_min"] == 375.0 and rows["WO-2610-02"]["shift"] == "晚班"
    compute_enterprise(store, profile(timezone="Asia/Shanghai"), ["2026-10-05", "2026-10-06"], LATER)
    assert indicator(store, "mes.run_min", "2026-10-05")[0] == 825.0  # 7.5 h + 6.25 h
    assert indicator(store, "mes.planned_min", "2026-10-05")[0] == 960.0
    assert indicator(store, "mes.scrap_qty", "2026-10-05")[0] == 25.0
    assert indicator(store, "mes.scrap_qty", "2026-10-06")[0] == 50.0


def test_inputs_feed_expressions_and_are_not_stored(store: Store, importer: Importer, tmp_path: Path) -> None:
    drop(tmp_path, "mes2", "mes_shift_gbk.csv")
    columns = {**{k: v for k, v in MES.items() if k not in ("completed_qty", "run_min")},
               "scrap_qty": {"expr": "完工 - good_qty"}, "run_min": {"expr": "planned_min - 停机"}}
    inputs = {"完工": "完工数量", "停机": {"column": "实际工时(小时)", "unit": "h", "scale": 0.1}}
    [rep] = importer.run(cfg("mes2", "production", columns, inputs=inputs), tmp_path / "gw")
    assert rep.rows_ok == 3
    row = stored(store, "mes2")["WO-2610-01"]
    assert row["scrap_qty"] == 15.0 and row["run_min"] == 435.0  # 480 - 7.5 h x 60 x 0.1
    assert "完工" not in row and "停机" not in row and "completed_qty" not in row
    with pytest.raises(ProfileError, match=r"connectors\[0\]\.inputs\.good_qty: an input name"):
        cfg("bad", "production", columns, inputs={"good_qty": "良品数量"})
    with pytest.raises(ProfileError, match=r"connectors\[0\]\.inputs\.x\.expr: a column"):
        cfg("bad", "production", columns, inputs={"x": {"expr": "good_qty"}})


def test_bom_shipments_with_wan_yuan_import_declared_or_auto(store: Store, importer: Importer,
                                                             tmp_path: Path) -> None:
    drop(tmp_path, "a", "shipments_bom.csv")
    drop(tmp_path, "b", "shipments_bom.csv")
    [ra] = importer.run(cfg("a", "shipments", SHIP, encoding="utf-8-sig"), tmp_path / "gw")
    [rb] = importer.run(cfg("b", "shipments", SHIP), tmp_path / "gw")  # auto
    assert (ra.rows_ok, ra.quarantined, rb.rows_ok) == (4, [], 4)
    a = stored(store, "a")
    assert a == stored(store, "b")
    sh1 = next(v for k, v in a.items() if k.startswith("SH-001|"))
    assert sh1["amount"] == 2600.0 and sh1["qty"] == 130.0 and sh1["customer"].startswith("c_")
    assert next(v for k, v in a.items() if k.startswith("SH-003|"))["amount"] == 12000.0


def test_undecodable_export_names_file_line_and_encoding(tmp_path: Path, store: Store, importer: Importer) -> None:
    p = tmp_path / "gw" / "x" / "出库单.csv"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"ship_no,date\r\nS1,2026-10-05\r\nS2,2026-10-0\xff\r\n")
    with pytest.raises(SourceError, match=r"出库单.csv: cannot decode as utf-8-sig or gb18030: line 3 is not "
                                          r"utf-8-sig .*line 3 is not gb18030"):
        read_csv(p, "auto")
    shutil.copy(FIX / "mes_shift_gbk.csv", p.parent / "mes.csv")
    with pytest.raises(SourceError, match=r"mes.csv: cannot decode as utf-8: line 1 is not utf-8"):
        read_csv(p.parent / "mes.csv", "utf-8")
    # through the importer: the file fails, with the same words, and nothing is stored
    reps = importer.run(cfg("x", "production", MES, encoding="utf-8"), tmp_path / "gw")
    failed = {r.source: r for r in reps}
    assert failed["mes.csv"].status == "failed" and "line 1 is not utf-8" in (failed["mes.csv"].error or "")
    assert store.db.execute("SELECT COUNT(*) FROM erp_rows").fetchone()[0] == 0


def test_product_master_from_an_export_packs_and_quarantine(store: Store, importer: Importer,
                                                            tmp_path: Path) -> None:
    drop(tmp_path, "items", "products_gbk.csv")
    drop(tmp_path, "ship", "shipments_bom.csv")
    importer.master_declared = True
    [rm] = importer.run(cfg("items", "products", MASTER, encoding="gbk"), tmp_path / "gw")
    assert rm.rows_ok == 3 and rm.quarantined == []
    [rs] = importer.run(cfg("ship", "shipments", SHIP), tmp_path / "gw")
    assert rs.rows_ok == 3
    [(line, reason)] = rs.quarantined
    assert line == 5 and reason.startswith("product '轴套 ZT-9' is not in the product master")
    assert quarantine_rows(store)[0]["reason"] == reason  # what the enterprise sees to fix it
    p = profile(timezone="Asia/Shanghai")
    compute_enterprise(store, p, ["2026-10-05", "2026-10-06"], LATER)
    packs, q, detail = indicator(store, "erp.shipped_packs", "2026-10-05")
    assert (packs, q) == (5.0, []) and detail["counted_unit"] == "pack" and detail["products"] == 2
    assert indicator(store, "erp.shipped_packs", "2026-10-06")[0] == 1.0
    assert indicator(store, "erp.shipped_qty", "2026-10-05")[0] == 530.0


def test_no_master_means_no_packs_not_zero(store: Store, importer: Importer, tmp_path: Path) -> None:
    drop(tmp_path, "ship", "shipments_bom.csv")
    [rs] = importer.run(cfg("ship", "shipments", SHIP), tmp_path / "gw")
    assert rs.rows_ok == 4 and rs.quarantined == []  # no master declared: nothing to check against
    compute_enterprise(store, profile(timezone="Asia/Shanghai"), ["2026-10-05"], LATER)
    assert store.db.execute("SELECT COUNT(*) FROM indicators WHERE name='erp.shipped_packs'").fetchone()[0] == 0


PROFILE = """
[site]
id = "t"
timezone = "Asia/Shanghai"

[products]
counted_unit = "pack"
[products.items."刹车盘 BD-220"]
units_per_pack = 60
unit_weight_kg = 2.4
[products.items."支架 ZJ-15"]
units_per_pack = 200
{extra}
[[connectors]]
name = "shipments"
kind = "folder"
dataset = "shipments"
path = "drop"
encoding = "utf-8-sig"
[connectors.columns]
ship_no = "发货单号"
date = "发货日期"
customer = "客户名称"
product = "物料名称"
qty = "发货数量"
amount = {{ column = "金额(万元)", unit = "万元" }}
"""


def test_product_master_from_the_profile_through_import_erp(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "drop").mkdir(parents=True)
    shutil.copy(FIX / "shipments_bom.csv", state / "drop" / "发货.csv")
    prof = tmp_path / "p.toml"
    prof.write_text(PROFILE.format(extra=""), encoding="utf-8")
    res = CliRunner().invoke(import_erp, ["--state", str(state), "--profile", str(prof)])
    assert res.exit_code == 0, res.output
    assert "profile.products: (profile [products]): imported" in res.output
    assert "rows 2 ok, 2 quarantined" in res.output
    assert "line 4: product '法兰 FL-80' is not in the product master" in res.output
    assert "line 5: product '轴套 ZT-9' is not in the product master" in res.output
    st = Store(state / "edgeproof.db", "NORMAL")
    try:
        assert indicator(st, "erp.shipped_packs", "2026-10-05")[0] == 5.0
        q = st.db.execute("SELECT rows_quarantined FROM erp_imports WHERE connector='shipments'").fetchone()
        assert q == (2,)  # what data.erp_rows_quarantined reports for the day the import ran
    finally:
        st.close()
    # The installer adds the missing product: the same export is read again and its line goes in.
    prof.write_text(PROFILE.format(extra='[products.items."法兰 FL-80"]\nunits_per_pack = 100\n'), encoding="utf-8")
    res = CliRunner().invoke(import_erp, ["--state", str(state), "--profile", str(prof), "--json"])
    reports = [json.loads(x) for x in res.output.splitlines()]
    ship = next(r for r in reports if r["connector"] == "shipments")
    assert ship["status"] == "imported" and ship["rows_ok"] == 3 and ship["added"] == 1
    assert [q["line"] for q in ship["quarantined"]] == [5]
    st = Store(state / "edgeproof.db", "NORMAL")
    try:
        assert indicator(st, "erp.shipped_packs", "2026-10-06")[0] == 1.0
        # nothing of the master leaves as a name: the stored rows hold tokens only
        blob = json.dumps([f for (f,) in st.db.execute("SELECT fields FROM erp_rows")], ensure_ascii=False)
        assert "法兰" not in blob and "刹车盘" not in blob
    finally:
        st.close()
    # The master leaves the profile: its items leave the store, and no line is checked any more.
    prof.write_text(PROFILE.format(extra="").split("[products]")[0] + "[[connectors]]" +
                    PROFILE.format(extra="").split("[[connectors]]")[1], encoding="utf-8")
    res = CliRunner().invoke(import_erp, ["--state", str(state), "--profile", str(prof), "--json"])
    ship = next(json.loads(x) for x in res.output.splitlines() if '"shipments"' in x)
    assert ship["status"] == "imported" and ship["rows_ok"] == 4 and ship["quarantined"] == []
    st = Store(state / "edgeproof.db", "NORMAL")
    try:
        assert st.db.execute("SELECT COUNT(*) FROM erp_rows WHERE dataset='products'").fetchone()[0] == 0
        assert indicator(st, "erp.shipped_packs", "2026-10-05")[:2] == (None, ["no_product_master"])  # revised
    finally:
        st.close()


def _profile_error(tmp_path: Path, text: str) -> ProfileError:
    p = tmp_path / "site.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        load_profile(p)
    assert err.value.file == str(p)
    return err.value


@pytest.mark.parametrize(("line", "key", "expected"), [
    ('amount = { column = "金额", unit = "万块" }', "connectors[0].columns.amount.unit", "a known unit"),
    ('amount = { column = "金额", unit = "h" }', "connectors[0].columns.amount.unit", "a money unit"),
    ('customer = { column = "客户名称", unit = "kg" }', "connectors[0].columns.customer.unit",
     "customer is a token:customer field"),
    ('amount = { expr = "qty *" }', "connectors[0].columns.amount.expr", "a valid arithmetic expression"),
    ('amount = { expr = "qty * price" }', "connectors[0].columns.amount.expr", "(found 'price')"),
    ('amount = { expr = "qty ** 9" }', "connectors[0].columns.amount.expr", "only + - * /"),
    ('amount = { expr = "__import__(\'os\').system(\'x\')" }', "connectors[0].columns.amount.expr",
     "a call of one of"),
    ('amount = { expr = "qty.real" }', "connectors[0].columns.amount.expr", "arithmetic only (found Attribute"),
    ('amount = { column = "金额", expr = "qty" }', "connectors[0].columns.amount", "either column"),
    ('amount = { column = "金额", scale = 0 }', "connectors[0].columns.amount.scale", ">"),
])
def test_bad_units_and_expressions_fail_the_profile_load(tmp_path: Path, line: str, key: str,
                                                         expected: str) -> None:
    text = PROFILE.format(extra="").replace('amount = {{ column = "金额(万元)", unit = "万元" }}'.replace("{{", "{")
                                            .replace("}}", "}"), line)
    if "customer" in line:
        text = text.replace('customer = "客户名称"\n', "")
    err = _profile_error(tmp_path, text)
    assert err.key == key and expected in err.expected, str(err)


def test_bad_product_master_fails_the_profile_load(tmp_path: Path) -> None:
    err = _profile_error(tmp_path, PROFILE.format(extra="").replace('counted_unit = "pack"', 'counted_unit = "box"'))
    assert err.key == "products.counted_unit"
    err = _profile_error(tmp_path, PROFILE.format(extra="").replace('counted_unit = "pack"', 'counted_unit = "pallet"'))
    assert err.key == "products.items.刹车盘 BD-220.units_per_pallet" and "parts per pallet" in err.expected
    err = _profile_error(tmp_path, PROFILE.format(extra="").replace("units_per_pack = 200", "units_per_pack = 0"))
    assert err.key.startswith("products.items") and "units_per_pack" in err.key


def test_status_page_lists_the_quarantined_lines(store: Store, importer: Importer, tmp_path: Path) -> None:
    from gateway.status.collect import imports_view

    drop(tmp_path, "ship", "shipments_bom.csv")
    importer.master_declared = True  # a master is declared but has no items yet: every line waits for it
    [rep] = importer.run(cfg("ship", "shipments", SHIP), tmp_path / "gw")
    assert rep.rows_ok == 0 and len(rep.quarantined) == 4
    view = imports_view(store)
    assert view["connectors"][0] | {"at": None} == {"connector": "ship", "source": "shipments_bom.csv", "at": None,
                                                    "rows_ok": 0, "rows_quarantined": 4, "added": 0, "changed": 0,
                                                    "removed": 0}
    assert [q["line"] for q in view["quarantined"]] == [5, 4, 3, 2]
    assert "'刹车盘 BD-220' is not in the product master" in view["quarantined"][-1]["reason"]


def test_pallets_when_the_camera_counts_pallets(store: Store, importer: Importer, tmp_path: Path) -> None:
    from gateway.connectors.products import load_products

    drop(tmp_path, "items", "products_gbk.csv")
    drop(tmp_path, "ship", "shipments_bom.csv")
    importer.master_declared, importer.products = True, load_products({"counted_unit": "pallet"})
    importer.run(cfg("items", "products", MASTER, encoding="gbk"), tmp_path / "gw")
    [rs] = importer.run(cfg("ship", "shipments", SHIP), tmp_path / "gw")
    assert rs.rows_ok == 3
    compute_enterprise(store, profile(timezone="Asia/Shanghai", products={"counted_unit": "pallet"}),
                       ["2026-10-05"], LATER)
    packs, _, detail = indicator(store, "erp.shipped_packs", "2026-10-05")
    assert packs == 2.0 and detail["counted_unit"] == "pallet"  # 130 of 1200 and 400 of 4000: one pallet each


def test_the_worked_example_in_the_docs_runs(tmp_path: Path) -> None:
    """docs/connectors.md's worked example, as written there, through `edgeproof import-erp`."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "connectors.md").read_text(encoding="utf-8")
    worked = doc[doc.index("## Worked example"):]
    toml_block = re.search(r"```toml\n(.*?)```", worked, re.S)
    assert toml_block is not None
    master = re.search(r"```toml\n(\[products\].*?)```", doc, re.S)
    assert master is not None
    state = tmp_path / "state"
    (state / "drop" / "mes").mkdir(parents=True)
    shutil.copy(FIX / "mes_shift_gbk.csv", state / "drop" / "mes" / "mes.csv")
    prof = tmp_path / "p.toml"
    prof.write_text('[site]\nid = "t"\ntimezone = "Asia/Shanghai"\n\n' + master.group(1) + "\n" + toml_block.group(1),
                    encoding="utf-8")
    res = CliRunner().invoke(import_erp, ["--state", str(state), "--profile", str(prof)])
    assert res.exit_code == 0, res.output
    assert "line 5: scrap_qty (= completed_qty - good_qty) is negative: -10.0" in res.output
    st = Store(state / "edgeproof.db", "NORMAL")
    try:
        assert indicator(st, "mes.run_min", "2026-10-05")[0] == 825.0
        assert indicator(st, "mes.planned_min", "2026-10-05")[0] == 960.0
        assert indicator(st, "mes.scrap_qty", "2026-10-05")[0] == 25.0
    finally:
        st.close()
