"""Open orders against due dates through replayed histories into a real receiver (`edgeproof replay` in its
own process, the sim-history-finance profile, which maps the ERP's 交货日期): a plant that over-promises
(``late_orders``) raises repay_order_due, the honest plant stays quiet and gets an order-progress section
with a shortfall interval, and an ERP that leaves every due date empty is "not observed", never a zero.

Four weeks from Monday 2026-10-12, hourly device rows to keep each replay short.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud_stub.analysis import analyse, verify_score
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from tests.replay.replay_helpers import LiveReceiver, replay_identity, run_replay

DAYS = 28
ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 10, 12)


def _blank_due_dates(data: Path) -> None:
    """The ERP exports the due-date column but fills none (many do): the same history, due dates unknown."""
    path = data / "exports" / "erp-orders" / "orders.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    col = rows[0].index("交货日期")
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([rows[0], *([*r[:col], "", *r[col + 1:]] for r in rows[1:])])


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory,
             scenario_receiver: LiveReceiver) -> Callable[[str], dict[str, Any]]:
    built: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in built:
            scenario = "honest" if name == "no_due_dates" else name
            root = tmp_path_factory.mktemp(f"orders-{name}")
            meta = write_scenario(ScenarioConfig(scenario=scenario, days=DAYS, seed=1, interval_s=3600, start=START,
                                                 finance=True), root / "data")
            if name == "no_due_dates":
                _blank_due_dates(root / "data")
            ent = f"ent-orders-{name.replace('_', '-')}"
            replay_identity(scenario_receiver, root / "state", ent, f"{ent}-gw", profile=meta["profile"])
            run_replay(scenario_receiver, root / "state", root / "data", profile=meta["profile"])
            tz = ZoneInfo(meta["timezone"])
            end = date.fromisoformat(meta["end"]) + timedelta(days=1)
            as_of = int(datetime(end.year, end.month, end.day, tzinfo=tz).timestamp())
            built[name] = analyse(scenario_receiver.rdb, ent, as_of=as_of, days=DAYS,
                                  signing_key=scenario_receiver.key)
        return built[name]

    return get


def _due_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["repayment"]["findings"] if f["rule"] == "repay_order_due"]


def test_honest_plant_delivers_on_time_and_stays_quiet(replayed, scenario_receiver: LiveReceiver) -> None:
    report = replayed("honest")
    rep = report["repayment"]
    assert rep["observed"]["repay_order_due"] is True
    assert _due_findings(report) == [], [f["message"] for f in _due_findings(report)]
    oo = rep["open_orders"]
    assert oo["assessed"] is True and oo["overdue_qty"] == 0.0
    assert oo["deliveries"]["on_time_rate"] == 1.0 and oo["deliveries"]["late"] == 0
    # What is owed in the next 30 days against what the plant is forecast to make: an interval, never negative.
    due = oo["due_within_30d_qty"]
    assert due > 0
    s, fc = oo["shortfall"], oo["production_forecast"]
    assert fc == {k: rep["forecasts"]["production"]["next_30d"][k] for k in ("total", "lower", "upper")}
    assert s["lower"] == max(0.0, round(due - fc["upper"], 2)) and s["upper"] == max(0.0, round(due - fc["lower"], 2))
    assert 0.0 <= s["lower"] <= s["expected"] <= s["upper"]
    assert oo["shipments"]["per_day"] > 0 and oo["shipments"]["days_to_clear"] > 0
    assert rep["forecasts"]["production"]["calibration"]["method"] == "centred-bootstrap-v1"
    with scenario_receiver.rdb.read() as conn:
        sid = conn.execute("SELECT max(id) FROM scores WHERE enterprise_id = ?",
                           (report["enterprise_id"],)).fetchone()[0]
    assert verify_score(scenario_receiver.rdb, sid)["reproducible"]


def test_over_promising_plant_raises_the_finding(replayed) -> None:
    honest, report = replayed("honest"), replayed("late_orders")
    found = {f["key"].split(":")[0]: f for f in _due_findings(report)}
    assert "overdue" in found, [f["message"] for f in report["repayment"]["findings"]]
    od = found["overdue"]
    assert od["severity"] in ("yellow", "orange", "red") and od["statistic"]["min_rise"] >= 0.05
    assert od["statistic"]["mean_rise"] >= 0.1
    assert od["compared"]["overdue_share_baseline"] == 0.0
    if "on_time" in found:
        assert found["on_time"]["statistic"]["on_time_rate_recent"] < 0.85
    assert "RC11" in [r["code"] for r in report["repayment"]["reasons"]]
    assert report["repayment"]["score"] < honest["repayment"]["score"]
    assert report["repayment"]["open_orders"]["overdue_qty"] > 0
    # What was made and shipped is the honest plant's: the authenticity score does not move.
    assert report["score"] == honest["score"]


def test_empty_due_dates_are_not_observed_never_zero(replayed) -> None:
    report = replayed("no_due_dates")
    rep = report["repayment"]
    assert rep["observed"]["repay_order_due"] is False and "repay_order_due" in rep["coverage"]["not_observed"]
    oo = rep["open_orders"]
    assert oo["assessed"] is False and "no open orders by due date" in oo["reason"]
    assert "shortfall" not in oo and "overdue_qty" not in oo


def test_the_bank_verifies_the_order_progress_it_pulls(replayed, scenario_receiver: LiveReceiver) -> None:
    """V55-V56 (docs/wire-format.md §23) through the real feed: the honest plant's signed report passes with
    the reference verifier and the document's own code; a receiver that shaded the shortfall or an open
    quantity is caught."""
    import copy

    from cloud_stub import feed_verify_orders as fvo
    from cloud_stub.banks import add_bank
    from cloud_stub.feed_verify import _indicator_fields, verify_feed
    report = replayed("honest")
    ent = report["enterprise_id"]
    token = add_bank(scenario_receiver.rdb, "bank-demo", ent)["token"]  # the bank its consent names
    seen: dict[int, dict[str, Any]] = {}
    summary = verify_feed(scenario_receiver.url, ent, token,
                          on_records=lambda _b, recs, _f: seen.update({r["id"]: r for r in recs}))
    assert summary["failed"] == 0, summary["failures"][:5]
    signed = report  # what analyse stored and signed is what the feed serves (V24 held above)
    compact = {rid: _indicator_fields(r) for rid, r in seen.items() if r["record"].get("type") == "indicator"}
    records = fvo.due_records(compact)
    assert fvo.arithmetic(signed) == [] and fvo.against_records(signed, records) == []
    (code,) = re.findall(r"```bank-verifier\n(.*?)\n```", (ROOT / "docs" / "wire-format.md").read_text("utf-8"), re.S)
    doc: dict[str, Any] = {}
    exec(code, doc)  # noqa: S102 - the document's own verifier, as printed
    doc["check_order_progress"](signed, seen)  # V55-V56 as printed
    shaded = copy.deepcopy(signed)
    shaded["repayment"]["open_orders"]["shortfall"]["expected"] += 5000.0  # a receiver painting a shortfall
    assert any("shortfall expected" in p for p in fvo.arithmetic(shaded))
    with pytest.raises(AssertionError, match="V55"):
        doc["check_order_progress"](shaded, seen)
    hidden = copy.deepcopy(signed)
    hidden["repayment"]["open_orders"]["open_qty_by_due"][">30"] += 500.0  # not in the due sum: only V56 sees it
    assert any("verified record says" in p for p in fvo.against_records(hidden, records))
    with pytest.raises(AssertionError, match="V56"):
        doc["check_order_progress"](hidden, seen)
