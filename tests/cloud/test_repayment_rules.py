"""Each repayment rule shows its signal on synthetic ERP data delivered through real ingest, and stays
quiet on the steady enterprise; outside-record rules on generated records; coverage when data is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from repayment_helpers import DAY, ErpFactory, deliver
from rule_inputs_helpers import DAY0, evidence

from cloud_stub.db import ReceiverDB
from cloud_stub.outside import records as outside_records
from cloud_stub.repayment.context import current_rules
from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules.base import Finding

AS_OF = DAY0 + 42 * DAY


def run(tmp_path: Path, factory: ErpFactory, outside: list[dict[str, Any]] | None = None) -> dict[str, list[Finding]]:
    rdb = ReceiverDB(tmp_path / "r.db")
    try:
        deliver(rdb, factory)
        ev = evidence(rdb, days=factory.days)
    finally:
        rdb.close()
    ri = RepaymentInputs(ev, AS_OF, outside or [])
    out = {}
    for rid, cls in sorted(current_rules().items()):
        out[rid] = cls().evaluate(ri, dict(cls.defaults))
    return out


def test_steady_enterprise_raises_nothing(tmp_path: Path) -> None:
    got = run(tmp_path, ErpFactory(days=60, dso=(45.0, 48.0), customer_hhi=3300.0))
    assert {k: [(f.severity, f.message) for f in v] for k, v in got.items() if v} == {}


@pytest.mark.parametrize(("factory", "rule", "severity"), [
    (ErpFactory(ar=lambda d: 1.0 + 0.03 * max(0, d - 14)), "repay_receivables_growth", "red"),
    (ErpFactory(old_share=lambda d: 0.0 if d < 21 else 0.25), "repay_ageing_shift", "orange"),
    (ErpFactory(revenue=lambda d: 1.0 if d < 28 else 0.1), "repay_revenue_break", "red"),
    (ErpFactory(stage_factor={"ship": lambda d: 1.0 if d < 32 else 0.0,
                              "receivable": lambda d: 1.0 if d < 32 else 0.0}), "repay_order_flow", "red"),
    (ErpFactory(stage_factor={"receivable": lambda d: 1.0 if d < 32 else 5.0}), "repay_order_flow", "orange"),
    (ErpFactory(customer_hhi=7000.0), "repay_concentration", "orange"),
    (ErpFactory(days=60, dso=(45.0, 68.5)), "repay_dso_trend", "orange"),
    (ErpFactory(production=lambda d: 1.0 if d < 28 else 0.4), "repay_forecast_miss", "yellow"),
], ids=["receivables", "ageing", "revenue", "stall", "jump", "concentration", "dso", "forecast"])
def test_each_signal(tmp_path: Path, factory: ErpFactory, rule: str, severity: str) -> None:
    got = run(tmp_path, factory)
    found = got[rule]
    assert found, f"{rule} raised nothing"
    assert found[0].severity == severity, found[0].message
    assert found[0].subscore == "repayment_capacity"
    assert found[0].statistic and found[0].threshold  # the numbers a credit analyst redoes by hand


def outside_rec(kind: str, day: str, data: dict[str, Any], source: str = "registry-x") -> dict[str, Any]:
    content = {"source": source, "kind": kind, "enterprise_id": "ent-1", "date": day, "data": data}
    parsed = outside_records.parse(content, "test")
    return {"id": 1, **content, "retrieved": "2026-10-13T00:00:00Z", "sha256": parsed.sha256, "signature": None,
            "signature_verified": None}


def test_outside_records_raise_cited_findings(tmp_path: Path) -> None:
    recs = [
        outside_rec("penalty", "2026-09-20", {"authority": "市场监督管理局", "amount": 150000}),
        outside_rec("registry", "2025-01-01", {"legal_representative": "张三", "registered_capital": 5000000}),
        outside_rec("registry", "2026-09-25", {"legal_representative": "李四", "registered_capital": 2000000}),
        *[outside_rec("news", f"2026-09-{10 + i:02d}", {"sentiment": -0.8, "headline": f"negative {i}"})
          for i in range(4)],
        outside_rec("news", "2026-09-30", {"sentiment": 0.6, "headline": "positive"}),
        outside_rec("tax", "2026-07-01", {"rating": "A"}),
    ]
    got = run(tmp_path, ErpFactory(), recs)
    adverse = got["repay_outside_adverse"]
    assert [f.severity for f in adverse] == ["orange"]  # 150,000 CNY >= 100,000; tax A is fine
    assert adverse[0].compared["records"][0]["sha256"] == recs[0]["sha256"]
    reg = {f.key.split(":")[0]: f.severity for f in got["repay_outside_registry"]}
    assert reg == {"legal_rep": "yellow", "capital": "orange"}  # capital cut 60 %
    news = got["repay_outside_news"]
    assert len(news) == 1 and news[0].severity == "yellow" and news[0].statistic["negative_items"] == 4
    assert {c["sha256"] for c in news[0].compared["records"]} == {r["sha256"] for r in recs[3:7]}


def test_old_outside_records_stay_quiet(tmp_path: Path) -> None:
    recs = [outside_rec("penalty", "2024-01-05", {"authority": "税务局", "amount": 900000}),
            outside_rec("news", "2026-01-10", {"sentiment": -0.9, "headline": "old"}),
            outside_rec("tax", "2026-08-01", {"rating": "B"})]
    got = run(tmp_path, ErpFactory(), recs)
    assert not got["repay_outside_adverse"] and not got["repay_outside_news"]
