"""Repayment signals through replayed histories into a real receiver (`edgeproof replay` in its own
process, the sim-history-finance profile): each pattern shows its signal, the honest plant with the
same finance exports stays quiet, and the authenticity score is not moved by any of them.

Four weeks from Monday 2026-10-12 (after the National Day week, so no holiday sits in the windows
the rules compare), hourly device rows to keep each replay short.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud_stub.analysis import analyse, verify_score
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from tests.replay.replay_helpers import LiveReceiver, replay_identity, run_replay

DAYS = 28
START = date(2026, 10, 12)
# Unpaid invoices need time to age past 30 days overdue: slow payers get five weeks.
LONGER = {"slow_payers": 35}


@pytest.fixture(scope="module")
def finance(tmp_path_factory: pytest.TempPathFactory,
            scenario_receiver: LiveReceiver) -> Callable[[str], dict[str, Any]]:
    built: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in built:
            root = tmp_path_factory.mktemp(f"finance-{name}")
            days = LONGER.get(name, DAYS)
            meta = write_scenario(ScenarioConfig(scenario=name, days=days, seed=1, interval_s=3600, start=START,
                                                 finance=True), root / "data")
            assert meta["profile"] == "sim-history-finance"
            ent = f"ent-fin-{name.replace('_', '-')}"
            replay_identity(scenario_receiver, root / "state", ent, f"{ent}-gw", profile=meta["profile"])
            run_replay(scenario_receiver, root / "state", root / "data", profile=meta["profile"])
            tz = ZoneInfo(meta["timezone"])
            end = date.fromisoformat(meta["end"]) + timedelta(days=1)
            as_of = int(datetime(end.year, end.month, end.day, tzinfo=tz).timestamp())
            # 8 weeks back, so October's month window (customer/supplier HHI) lies inside the period.
            built[name] = analyse(scenario_receiver.rdb, ent, as_of=as_of, days=2 * days,
                                  signing_key=scenario_receiver.key)
        return built[name]

    return get


def repay_findings(report: dict[str, Any]) -> dict[str, str]:
    return {f["rule"]: f["severity"] for f in report["repayment"]["findings"] if f["severity"] != "info"}


def test_honest_plant_with_finance_exports_stays_quiet(finance, scenario_receiver: LiveReceiver) -> None:
    report = finance("honest")
    rep = report["repayment"]
    assert repay_findings(report) == {}, [f["message"] for f in rep["findings"]]
    assert rep["status"] == "assessed" and rep["grade"] == "A" and rep["level"] == "green"
    # Receivables, ageing, orders and shipments reached the bank; DSO needs two closed months.
    assert {"repay_receivables_growth", "repay_ageing_shift", "repay_order_flow", "repay_revenue_break",
            "repay_concentration"} <= {k for k, v in rep["observed"].items() if v}, rep["observed"]
    assert "repay_dso_trend" in rep["coverage"]["not_observed"]
    fc = rep["forecasts"]["production"]
    assert fc["assessed"] and fc["next_30d"]["lower"] <= fc["next_30d"]["total"] <= fc["next_30d"]["upper"]
    with scenario_receiver.rdb.read() as conn:
        sid = conn.execute("SELECT max(id) FROM scores WHERE enterprise_id = ?",
                           (report["enterprise_id"],)).fetchone()[0]
    assert verify_score(scenario_receiver.rdb, sid)["reproducible"]


@pytest.mark.parametrize(("pattern", "rule"), [
    ("order_stall", "repay_order_flow"),
    ("revenue_drop", "repay_revenue_break"),
    ("slow_payers", "repay_ageing_shift"),
])
def test_each_pattern_shows_its_signal(finance, pattern: str, rule: str) -> None:
    honest, report = finance("honest"), finance(pattern)
    got = repay_findings(report)
    assert rule in got, got
    assert report["repayment"]["score"] < honest["repayment"]["score"]
    # The authenticity score answers another question: the finance patterns do not move it (the five-week
    # history is another plant history, so it is compared on its grade only).
    if pattern in LONGER:
        assert report["grade"] == honest["grade"]
    else:
        assert report["score"] == honest["score"]
