"""Packs end to end: a GBK/BOM export and the profile's product master go through the gateway's
real connector runner and enterprise indicators; the indicator rows, in the batcher's wire
form, go through the receiver's real ingest; ``shipments_vs_outcounts`` reads packs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
from cloud_helpers import FakeGateway
from rule_inputs_helpers import H, enrolled, evidence, push, rec

from cloud_stub.db import ReceiverDB
from cloud_stub.rules import all_rules
from gateway.connectors.runner import ConnectorRunner
from gateway.profile.schema import Profile
from gateway.store import Store
from gateway.uplink.batcher import indicator_record

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "erp"
OCT5 = 1791129600  # 2026-10-05 00:00 at UTC+8
LATER = OCT5 + 21 * 86400


def gateway_records(state: Path) -> list[dict]:
    (state / "drop").mkdir(parents=True)
    shutil.copy(FIX / "shipments_bom.csv", state / "drop" / "发货.csv")
    prof = msgspec.convert({
        "site": {"id": "t", "timezone": "Asia/Shanghai"},
        "products": {"counted_unit": "pack", "items": {"刹车盘 BD-220": {"units_per_pack": 60},
                                                         "支架 ZJ-15": {"units_per_pack": 200},
                                                         "法兰 FL-80": {"units_per_pack": 100}}},
        "connectors": [{"name": "shipments", "kind": "folder", "dataset": "shipments", "path": "drop",
                        "columns": {"ship_no": "发货单号", "date": "发货日期", "customer": "客户名称",
                                    "product": "物料名称", "qty": "发货数量"}}]}, Profile)
    store = Store(state / "edgeproof.db", "NORMAL")
    try:
        runner = ConnectorRunner(prof, state, store, settle_s=0.0)
        reps = {r.connector: r for r in runner.run_once(now=LATER)}
        assert reps["shipments"].rows_ok == 3 and len(reps["shipments"].quarantined) == 1  # 轴套 ZT-9
        rows = store.db.execute("SELECT name, category, subject, window_start, window_len, value, unit, quality, "
                                "version, detail FROM indicators WHERE category='erp'").fetchall()
    finally:
        store.close()
    keys = ("name", "category", "subject", "window_start", "window_len", "value", "unit", "quality", "version",
            "detail")
    return [indicator_record(dict(zip(keys, r, strict=True))) for r in rows]


def test_packs_from_a_real_import_reach_the_rule(tmp_path: Path) -> None:
    records = gateway_records(tmp_path / "gw")
    packs = {r["window"]["start"]: r["value"] for r in records
             if r["name"] == "erp.shipped_packs" and r["window"]["len"] == 86400}
    assert packs[OCT5] == 5.0 and packs[OCT5 + 86400] == 1.0  # 3 + 2 packs; 1 pack
    # The dispatch door saw nothing leave on 5 October, and the one pack on the 6th.
    for d in (0, 1):
        for h in range(24):
            n = 1.0 if (d, h) == (1, 10) else 0.0
            records.append(rec("vision.units_out", "vision", "dispatch", OCT5 + d * 86400 + h * H, H, n, "units"))
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    try:
        push(rdb, enrolled(rdb, FakeGateway()), records)
        ev = evidence(rdb, start=OCT5, days=21)
    finally:
        rdb.close()
    cls = all_rules()["shipments_vs_outcounts"]
    (f,) = [f for f in cls().evaluate(ev, dict(cls.defaults)) if f.key.startswith("no_out_movement")]
    assert f.severity == "red" and f.indicators[0] == "erp.shipped_packs"
    assert [d["day"] for d in f.compared["days"]] == ["2026-10-05"] and f.statistic["packs_shipped"] == 5.0
    assert json.dumps(f.to_json(), ensure_ascii=False).count("刹车盘") == 0
