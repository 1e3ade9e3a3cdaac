"""The real gateway process loop with a drop folder and consent: a revocation made on site
from another connection stops the flow at the gateway's next step, with a signed record."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from gateway import wire
from gateway.consent import audit
from gateway.consent.policy import add_local_change
from gateway.identity import init_identity, write_json_atomic
from gateway.profile import load_profile
from gateway.runtime import Gateway
from gateway.store import Store
from tests.fixtures.erp.make_fixtures import write_csv

PROFILE = """
[site]
id = "t"
timezone = "Asia/Shanghai"
simulated = true

[indicators]
windows = ["2s"]
grace_s = 0.2
interval_s = 0.3

[uplink]
transport = "none"

[status]
enabled = false

[consent]
enterprise = "ent-1"

[[consent.grants]]
categories = ["erp", "mes"]

[[connectors]]
name = "orders"
kind = "folder"
dataset = "orders"
path = "drop"
scan_interval_s = 0.5
columns = { order_no = "订单号", customer = "客户", qty = "数量", unit_price = "单价", order_date = "日期" }
"""
HEADER = ["订单号", "客户", "数量", "单价", "日期"]


def _export(path: Path, rows: list[list[object]]) -> None:
    write_csv(path, HEADER, rows)
    old = time.time() - 60  # a finished export (the runner waits for files to settle)
    os.utime(path, (old, old))


async def _until(cond, timeout: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out"
        await asyncio.sleep(0.2)


def test_revocation_stops_the_flow_in_the_running_gateway(tmp_path: Path) -> None:
    state = tmp_path / "gw"
    init_identity(state, "gw-t", "t")
    write_json_atomic(state / "enrollment.json", {"enterprise_id": "ent-1"})
    prof_path = tmp_path / "p.toml"
    prof_path.write_text(PROFILE, encoding="utf-8")
    _export(state / "drop" / "a.csv", [["S1", "甲", 10, 5.0, "2026-10-05"], ["S2", "乙", 10, 5.0, "2026-10-06"]])
    other = Store(state / "edgeproof.db", "NORMAL")  # the enterprise's `edgeproof consent` connection

    def erp_rows(where: str) -> int:
        return other.db.execute(f"SELECT COUNT(*) FROM indicators WHERE category='erp' AND {where}").fetchone()[0]

    t_revoke: list[float] = []

    def revocation_signed() -> bool:
        return any(r["type"] == "consent" and r.get("event") == "revoked"
                   for (body,) in other.db.execute("SELECT body FROM outbox ORDER BY seq")
                   for r in wire.decode_body(body)["records"])

    async def main() -> Gateway:
        gw = Gateway(load_profile(prof_path), state, simulate=True)
        await gw.start()
        try:
            await _until(lambda: erp_rows("batch_seq IS NOT NULL") > 0)
            add_local_change(other, "revoke", ["erp"], note="test")
            t_revoke.append(time.time())  # in force from when it is recorded: nothing computed later leaves
            _export(state / "drop" / "b.csv", [["S3", "甲", 1, 5.0, "2026-10-07"]])
            await _until(lambda: erp_rows(f"created > {t_revoke[0]}") > 0)  # b.csv's figures, computed after it
            await _until(lambda: erp_rows("held IS NOT NULL") > 0)
            await _until(revocation_signed)  # the step after the revocation signs the consent record
        finally:
            await gw.stop()
        return gw

    asyncio.run(main())
    records = []
    for (body,) in other.db.execute("SELECT body FROM outbox ORDER BY seq"):
        records += wire.decode_body(body)["records"]
    kinds = [(r["type"], r.get("event")) for r in records if r["type"] == "consent"]
    assert kinds == [("consent", "initial"), ("consent", "revoked")]
    cut = next(i for i, r in enumerate(records) if r.get("event") == "revoked")
    assert any(r["category"] == "erp" for r in records[:cut])
    assert not any(r.get("category") == "erp" for r in records[cut + 1:])
    held = other.db.execute("SELECT DISTINCT held FROM indicators WHERE held IS NOT NULL").fetchall()
    assert held == [("consent: category 'erp' not authorised for this receiver",)]
    # every erp figure computed or corrected after the revocation (S3 changes 7 October and
    # every later day's open orders) stayed on site
    assert erp_rows(f"created > {t_revoke[0]}") > 0
    assert erp_rows(f"created > {t_revoke[0]} AND batch_seq IS NOT NULL") == 0
    assert audit.verify(other).ok
    other.close()
