"""Connectors on realistic exports: Chinese headers, UTF-8/GBK/Excel, malformed rows,
re-imports and corrections, read-only SQL."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.connectors.config import check_select, load_connectors
from gateway.connectors.importer import Importer, quarantine_rows
from gateway.connectors.readers import SourceError, decode, read_csv, sql_engine_url
from gateway.indicators.enterprise import compute_enterprise, day_window
from gateway.profile import ProfileError
from gateway.store import Store
from tests.indicators.helpers import profile

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "erp"
ORDERS = {"order_no": "订单号", "customer": "客户", "product": "产品", "qty": "数量", "unit_price": "单价",
          "order_date": "日期"}
TZ = ZoneInfo("Asia/Shanghai")


def connector(name: str = "orders", path: str | None = None, **kw: object):  # noqa: ANN201
    raw = {"name": name, "kind": "folder", "dataset": "orders", "path": path or name, "columns": ORDERS,
           "pattern": "*", **kw}
    return load_connectors([raw])[0]


def drop(tmp_path: Path, folder: str, *files: str) -> Path:
    d = tmp_path / "gw" / folder
    d.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(FIX / f, d / f)
    return d


def rows(store: Store, connector_name: str) -> dict[str, dict]:
    return {k: json.loads(f) for k, f in store.db.execute(
        "SELECT key, fields FROM erp_rows WHERE connector=? ORDER BY key", (connector_name,))}


def test_utf8_and_gbk_exports_give_the_same_rows_and_tokens(store: Store, importer: Importer,
                                                            tmp_path: Path) -> None:
    drop(tmp_path, "a", "orders_utf8.csv")
    drop(tmp_path, "b", "orders_gbk.csv")
    [ra] = importer.run(connector("a"), tmp_path / "gw")
    [rb] = importer.run(connector("b"), tmp_path / "gw")
    assert (ra.rows_ok, ra.quarantined, rb.rows_ok, rb.quarantined) == (5, [], 5, [])
    a, b = rows(store, "a"), rows(store, "b")
    assert a == b
    so1 = next(v for k, v in a.items() if k.startswith("SO-001|"))
    assert so1["qty"] == 100 and so1["unit_price"] == 12.5 and so1["amount"] == 1250
    assert so1["customer"].startswith("c_") and so1["product"].startswith("p_")
    assert {v["order_date"] for v in a.values()} == {"2026-10-05", "2026-10-06"}  # 2026/10/5, 2026年10月6日, 20261006
    so3 = next(v for k, v in a.items() if k.startswith("SO-003|"))
    assert so3["unit_price"] == 1000 and so3["customer"] == so1["customer"]  # "1,000"; same customer
    # no name anywhere in the store's rows
    blob = json.dumps(a, ensure_ascii=False)
    assert "上海" not in blob and "ACME" not in blob and "刹车盘" not in blob
    assert decode("订单".encode("gbk"), "auto")[1] == "gb18030"
    assert decode("订单".encode("utf-8-sig"), "auto")[1] == "utf-8-sig"


def test_malformed_rows_are_quarantined_with_line_and_reason(store: Store, importer: Importer,
                                                             tmp_path: Path) -> None:
    drop(tmp_path, "m", "orders_malformed.csv")
    [rep] = importer.run(connector("m"), tmp_path / "gw")
    assert rep.status == "imported" and rep.rows_ok == 2 and rep.added == 2
    lines = {ln: reason for ln, reason in rep.quarantined}
    assert sorted(lines) == [3, 4, 5, 6, 7]
    assert "qty (数量): not a number" in lines[3]
    assert lines[4] == "customer (客户) is empty"
    assert "order_date (日期): not a valid date" in lines[5]
    assert "negative" in lines[6]
    assert "duplicate key" in lines[7] and "line 2" in lines[7]
    q = quarantine_rows(store, "m")
    assert len(q) == 5 and {r["line"] for r in q} == {3, 4, 5, 6, 7}
    assert any("SO-102" in r["raw"] for r in q)  # the raw line stays on site for the enterprise to fix
    imp = store.db.execute("SELECT rows_ok, rows_quarantined FROM erp_imports").fetchone()
    assert imp == (2, 5)


def test_reimport_is_idempotent(store: Store, importer: Importer, tmp_path: Path) -> None:
    d = drop(tmp_path, "o", "orders_utf8.csv")
    cfg = connector("o")
    [first] = importer.run(cfg, tmp_path / "gw")
    assert first.added == 5
    [again] = importer.run(cfg, tmp_path / "gw")
    assert again.status == "unchanged"
    # the same rows in another order, as another file: read, nothing changes
    lines = (d / "orders_utf8.csv").read_text(encoding="utf-8-sig").splitlines()
    (d / "reexport.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]), encoding="utf-8")
    reports = importer.run(cfg, tmp_path / "gw")
    [re] = [r for r in reports if r.source == "reexport.csv"]
    assert (re.status, re.added, re.changed, re.removed, re.unchanged) == ("imported", 0, 0, 0, 5)
    assert store.db.execute("SELECT COUNT(*) FROM erp_rows").fetchone()[0] == 5
    assert store.db.execute("SELECT COUNT(*) FROM erp_changes").fetchone()[0] == 0


def test_corrected_export_supersedes_and_the_change_is_recorded_and_resent(store: Store, importer: Importer,
                                                                           tmp_path: Path) -> None:
    d = drop(tmp_path, "o", "orders_utf8.csv")
    cfg = connector("o")
    importer.run(cfg, tmp_path / "gw")
    prof = profile(timezone="Asia/Shanghai")
    now = datetime(2026, 11, 27, tzinfo=TZ).timestamp()
    compute_enterprise(store, prof, ["2026-10-05", "2026-10-06"], now)
    d5, d6 = day_window(date(2026, 10, 5), TZ), day_window(date(2026, 10, 6), TZ)
    # pretend everything was sent in batch 1
    store.db.execute("UPDATE indicators SET batch_seq=1")
    shutil.copy(FIX / "orders_corrected.csv", d / "orders_corrected.csv")
    [rep] = [r for r in importer.run(cfg, tmp_path / "gw") if r.source == "orders_corrected.csv"]
    assert (rep.added, rep.changed, rep.removed, rep.unchanged) == (0, 1, 1, 3)
    assert rep.days == {"2026-10-05", "2026-10-06"}
    changes = store.db.execute("SELECT key, change, old, new FROM erp_changes ORDER BY id").fetchall()
    assert [(k.split("|")[0], c) for k, c, _, _ in changes] == [("SO-002", "changed"), ("SO-005", "removed")]
    assert json.loads(changes[0][2])["qty"] == 40 and json.loads(changes[0][3])["qty"] == 50
    new, revised = compute_enterprise(store, prof, sorted(rep.days), now)
    assert revised >= 3  # both days' amounts and October's
    got = {r[0]: r[1:] for r in store.db.execute(
        "SELECT window_start, value, quality, detail, batch_seq FROM indicators WHERE name='erp.order_amount'")}
    assert got[d5[0]][0] == 2750.0 and got[d6[0]][0] == 11000.0  # 2450 + 10 x 30; 11050 - 50
    for ws in (d5[0], d6[0]):
        value, quality, detail, batch_seq = got[ws]
        assert "revised" in json.loads(quality) and json.loads(detail)["rev"] == 2 and batch_seq is None
    # recomputing again changes nothing
    assert compute_enterprise(store, prof, sorted(rep.days), now) == (0, 0)


def test_append_mode_never_removes(store: Store, importer: Importer, tmp_path: Path) -> None:
    d = drop(tmp_path, "o", "orders_utf8.csv")
    cfg = connector("o", mode="append")
    importer.run(cfg, tmp_path / "gw")
    shutil.copy(FIX / "orders_corrected.csv", d / "z.csv")
    [rep] = [r for r in importer.run(cfg, tmp_path / "gw") if r.source == "z.csv"]
    assert (rep.changed, rep.removed) == (1, 0)
    assert len(rows(store, "o")) == 5


def test_excel_export_with_a_title_row(store: Store, importer: Importer, tmp_path: Path) -> None:
    drop(tmp_path, "x", "orders.xlsx")
    [rep] = importer.run(connector("x", pattern="*.xlsx", header_row=2), tmp_path / "gw")
    assert rep.rows_ok == 3 and len(rep.quarantined) == 1
    assert rep.quarantined[0][0] == 7 and "qty" in rep.quarantined[0][1]  # "five", Excel row 7
    r = rows(store, "x")
    so2 = next(v for k, v in r.items() if k.startswith("SO-002|"))
    assert so2["order_date"] == "2026-10-05" and so2["amount"] == 1200


def test_missing_column_fails_the_file_and_says_which(store: Store, importer: Importer, tmp_path: Path) -> None:
    drop(tmp_path, "o", "orders_utf8.csv")
    cfg = load_connectors([{"name": "o", "kind": "folder", "dataset": "orders", "path": "o",
                            "columns": {**ORDERS, "customer": "客户名称"}}])[0]
    [rep] = importer.run(cfg, tmp_path / "gw")
    assert rep.status == "failed" and "customer (客户名称)" in (rep.error or "")
    assert store.db.execute("SELECT COUNT(*) FROM erp_rows").fetchone()[0] == 0
    # after the installer fixes the mapping, the same file is read (the fingerprint covers the mapping)
    [rep] = importer.run(connector("o"), tmp_path / "gw")
    assert rep.status == "imported" and rep.added == 5


def test_undecodable_file_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_bytes("订单号,客户\n".encode("utf-16"))
    with pytest.raises(SourceError):
        read_csv(p, "utf-8")


def _erp_db(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE 销售订单 (订单号 TEXT, 客户 TEXT, 产品 TEXT, 数量 REAL, 单价 REAL, 日期 TEXT)")
    db.executemany("INSERT INTO 销售订单 VALUES (?,?,?,?,?,?)", [
        ("SO-1", "上海汽车零部件有限公司", "刹车盘", 10, 5.0, "2026-10-05"),
        ("SO-2", "宁波精工机械有限公司", "支架", 3, 2.0, "2026-10-05 09:30"),
        ("SO-3", "宁波精工机械有限公司", "支架", None, 2.0, "not a date"),
    ])
    db.commit()
    db.close()


def test_sql_connector_reads_sqlite_read_only(store: Store, importer: Importer, tmp_path: Path) -> None:
    erp = tmp_path / "erp.db"
    _erp_db(erp)
    before = hashlib.sha256(erp.read_bytes()).hexdigest()
    cfg = load_connectors([{"name": "erp-sql", "kind": "sql", "dataset": "orders", "url": f"sqlite:///{erp}",
                            "query": "SELECT 订单号, 客户, 产品, 数量, 单价, 日期 FROM 销售订单",
                            "columns": ORDERS}])[0]
    [rep] = importer.run(cfg, tmp_path / "gw")
    assert rep.rows_ok == 2 and rep.quarantined == [(3, "order_date (日期): not a date: 'not a date'")]
    [again] = importer.run(cfg, tmp_path / "gw")
    assert again.status == "unchanged"
    assert hashlib.sha256(erp.read_bytes()).hexdigest() == before
    # the connection the connector uses cannot write, whatever the query says
    from sqlalchemy import create_engine, text

    eng = create_engine(sql_engine_url(f"sqlite:///{erp}"))
    with eng.connect() as conn, pytest.raises(Exception, match="readonly"):
        conn.execute(text("DELETE FROM 销售订单"))
    eng.dispose()



def test_an_unusable_sql_url_fails_the_connector_not_the_run(importer: Importer, tmp_path: Path) -> None:
    for url, why in (("erp-server/erp", "unusable database URL: ArgumentError"),
                     ("nosuchdb://u:secret@h/db", "unusable database URL: NoSuchModuleError")):
        cfg = load_connectors([{"name": "erp-sql", "kind": "sql", "dataset": "orders", "url": url,
                                "query": "SELECT 1", "columns": ORDERS}])[0]
        [rep] = importer.run(cfg, tmp_path / "gw")
        assert rep.status == "failed" and why in (rep.error or "") and "secret" not in (rep.error or "")

def test_sql_query_must_be_one_select() -> None:
    check_select("WITH x AS (SELECT 1) SELECT * FROM x")
    check_select("SELECT '; drop' AS s FROM t")
    for bad in ("DELETE FROM t", "SELECT 1; DROP TABLE t", "UPDATE t SET a=1", "PRAGMA writable_schema=1",
                "SELECT * FROM t; ATTACH 'x' AS y"):
        with pytest.raises(ProfileError):
            check_select(bad)


def test_connector_profile_errors_name_file_key_and_expectation() -> None:
    with pytest.raises(ProfileError, match=r"connectors\[0\].dataset: one of"):
        load_connectors([{"name": "x", "kind": "folder", "dataset": "sales", "path": "p", "columns": {}}])
    with pytest.raises(ProfileError, match=r"connectors\[0\].columns: a column for every required field"):
        load_connectors([{"name": "x", "kind": "folder", "dataset": "orders", "path": "p",
                          "columns": {"order_no": "订单号"}}])
    with pytest.raises(ProfileError, match=r"connectors\[0\].columns.colour"):
        load_connectors([{"name": "x", "kind": "folder", "dataset": "orders", "path": "p",
                          "columns": {**ORDERS, "colour": "颜色"}}])
    with pytest.raises(ProfileError, match=r"connectors\[0\].query"):
        load_connectors([{"name": "x", "kind": "sql", "dataset": "orders", "url": "sqlite:///a.db",
                          "query": "DELETE FROM t", "columns": ORDERS}])
    with pytest.raises(ProfileError, match=r"connectors\[0\].encoding"):
        load_connectors([{"name": "x", "kind": "folder", "dataset": "orders", "path": "p", "encoding": "klingon",
                          "columns": ORDERS}])


def test_import_quality_is_reported_per_connector_and_day(store: Store, importer: Importer, tmp_path: Path) -> None:
    drop(tmp_path, "m", "orders_malformed.csv")
    [rep] = importer.run(connector("m"), tmp_path / "gw")
    imported_at = store.db.execute("SELECT at FROM erp_imports").fetchone()[0]
    today = datetime.fromtimestamp(imported_at, TZ).date()
    later = datetime.fromtimestamp(imported_at + 2 * 86400, TZ).timestamp()
    compute_enterprise(store, profile(timezone="Asia/Shanghai"), [today], later)
    row = store.db.execute("SELECT subject, value, quality, detail FROM indicators WHERE "
                           "name='data.erp_rows_quarantined'").fetchone()
    assert row[0] == "connector:m" and row[1] == 5.0 and json.loads(row[2]) == ["rows_quarantined"]
    assert json.loads(row[3]) == {"period": "day", "rows_ok": 2, "changed": 0, "removed": 0, "imports": 1}


def test_import_erp_command_reports_quarantined_lines(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gateway.commands.import_erp import command

    state = tmp_path / "state"
    (state / "drop").mkdir(parents=True)
    shutil.copy(FIX / "orders_malformed.csv", state / "drop" / "orders.csv")
    prof = tmp_path / "p.toml"
    prof.write_text("""
[site]
id = "t"
timezone = "Asia/Shanghai"

[[connectors]]
name = "orders"
kind = "folder"
dataset = "orders"
path = "drop"
[connectors.columns]
order_no = "订单号"
customer = "客户"
product = "产品"
qty = "数量"
unit_price = "单价"
order_date = "日期"
""", encoding="utf-8")
    res = CliRunner().invoke(command, ["--state", str(state), "--profile", str(prof)])
    assert res.exit_code == 0, res.output
    assert "orders: orders.csv: imported" in res.output and "rows 2 ok, 5 quarantined" in res.output
    assert "line 3: qty (数量): not a number" in res.output
    res = CliRunner().invoke(command, ["--state", str(state), "--profile", str(prof), "--json"])
    assert json.loads(res.output.splitlines()[0])["status"] == "unchanged"
