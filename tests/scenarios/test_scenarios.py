"""Scenario tests: five weeks of a synthetic factory through replay, the receiver and the analysis.

Every history goes the way a real onboarding goes (gateway/replay/scenarios.py writes the
replay folder; `edgeproof replay` runs the gateway's real path; the receiver verifies and
stores; cloud_stub.analysis cross-checks and scores). The assertions name the numbers the
generator put in, so a finding must carry the right figures, not just exist.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from cloud_stub.banks import add_bank
from cloud_stub.rules import all_rules
from gateway import wire
from tests.replay.replay_helpers import get_json

ALL_RULES = all_rules()

SEVERE = ("orange", "red")


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def test_an_honest_factory_over_five_weeks_gets_a_good_grade_and_no_red_finding(history) -> None:
    h = history("honest")
    assert h.summary["accepted"] == h.summary["batches"] > 0 and h.summary["offline"] == []
    assert h.report["grade"] in ("A", "B"), h.report["reasons"]
    assert h.report["warning_level"] == "green"
    assert h.findings(severity="red") == []
    # ... and not because a rule never ran: the report lists every rule that evaluated the history.
    assert set(ALL_RULES) <= set(h.report["rules"]), h.report["rules"]
    # Nothing questions its output, its collateral or its data; a holiday stoppage may be noted.
    doubts = [f for f in h.findings() if f["severity"] != "info"
              and f["subscore"] in ("production_authenticity", "collateral_safety", "data_integrity")]
    assert doubts == []
    assert h.report["inputs"]["records"] > 10_000


def test_output_inflated_in_mes_and_erp_is_flagged_with_the_numbers(history) -> None:
    h = history("inflated")
    truth, onset = h.meta["truth"], _day(h.meta["onset_date"])
    assert h.report["warning_level"] == "red" and h.report["grade"] not in ("A", "B")
    (mes,) = h.findings("mes_vs_camera")
    assert mes["severity"] == "red"
    c = mes["compared"]
    assert c["claims_total"] == truth["claimed_good"]  # the MES's own total, to the unit
    # The camera saw what was made (less its 1-4 % miss rate), not what was claimed.
    assert 0.95 * truth["parts"] <= c["evidence_total"] <= truth["parts"]
    assert _day(c["window"]["first_day"]) >= onset
    assert c["window"]["claims"] / c["window"]["evidence"] > 1.25
    ships = h.findings("shipments_vs_outcounts")
    (ship,) = [f for f in ships if f["key"].startswith("shipment_bias")]
    assert ship["severity"] in SEVERE
    # v3 also names the days whose shipped quantity the door never saw leave (inflated notes).
    for f in ships:
        assert f["key"].startswith(("shipment_bias", "unmatched_shipments")) and f["window"]["start"] >= \
            int(datetime.combine(onset, datetime.min.time(), ZoneInfo(h.meta["timezone"])).timestamp())
    assert ship["compared"]["claims_total"] == truth["shipped_claimed"] != truth["shipped_physical"]
    assert _day(ship["compared"]["window"]["first_day"]) >= onset
    # The honest history of the same seed (identical machines, identical cameras) is not flagged.
    assert history("honest").findings("mes_vs_camera") == [] and "mes_vs_camera" in history("honest").report["rules"]


def test_gradual_inflation_is_caught_by_drift_detection_within_ten_days(history) -> None:
    h = history("drift")
    onset = _day(h.meta["onset_date"])  # MES output +1 % on this day, +2 % the next, ...
    hits = [f for f in h.findings("drift_cusum") if "vision.units_out" in f["indicators"]]
    assert hits and hits[0]["severity"] in SEVERE, h.findings("drift_cusum")
    c = hits[0]["compared"]
    alarm = _day(c["alarm_day"])
    assert onset <= alarm <= onset + timedelta(days=10), (onset, alarm)
    assert c["mean_excess_since_onset_pct"] > 3
    assert history("honest").findings("drift_cusum") == [] and "drift_cusum" in history("honest").report["rules"]


def test_collateral_removed_without_a_record_turns_red(history) -> None:
    h = history("collateral_removed")
    assert h.report["warning_level"] == "red"
    (f,) = h.findings("collateral_changes")
    assert f["severity"] == "red" and f["subscore"] == "collateral_safety"
    assert abs(f["compared"]["removed_kg"] - h.meta["config"]["removed_kg"]) <= 15
    tz = ZoneInfo(h.meta["timezone"])
    when = datetime.combine(_day(h.meta["onset_date"]), datetime.min.time(), tz) + timedelta(hours=10)
    # The hour after it happened: a step counts once the new level has held for hold_s (1 h).
    assert f["window"]["start"] == int(when.timestamp()) + 3600
    # The weekly stock rotation of the honest history (300 kg out and back, both recorded) is explained.
    assert [x for x in history("honest").findings() if x["subscore"] == "collateral_safety"] == []
    assert {"collateral_changes", "collateral_weight"} <= set(history("honest").report["rules"])


def test_gateway_offline_while_the_mes_claims_production_is_an_integrity_finding(history) -> None:
    h = history("offline")
    (outage,) = h.summary["offline"]
    assert h.summary["restarts"] == 1
    (f,) = h.findings("offline_production")
    assert f["subscore"] == "data_integrity" and f["severity"] in ("yellow", *SEVERE)
    lo, hi = h.meta["offline"]["from"], h.meta["offline"]["to"]
    assert lo <= f["window"]["start"] < hi
    # The units it names are what the MES export claims for the working days the gateway missed.
    claimed = 0
    for p in sorted((h.data / "exports" / "mes-production").glob("*.csv")):
        with open(p, encoding="gbk", newline="") as fh:
            for row in csv.DictReader(fh):
                day = datetime.fromisoformat(row["日期"]).replace(tzinfo=ZoneInfo(h.meta["timezone"])).timestamp()
                if lo <= day < hi:
                    claimed += int(row["良品数"]) + int(row["废品数"])
    assert claimed > 0 and f["compared"]["units_unobserved"] == claimed


def test_replayed_history_is_marked_and_signed_as_such_in_the_bank_feed(history, scenario_receiver) -> None:
    h = history("honest")
    token = add_bank(scenario_receiver.rdb, "bank-demo", h.enterprise)["token"]  # the bank its consent names
    status, page = get_json(f"{scenario_receiver.url}/v1/feed/{h.enterprise}/records?limit=300", token)
    assert status == 200, page
    assert page["records"] and all(r["replayed"] is True for r in page["records"])
    # The flag is not only the receiver's word: the replay object is inside the body the replay
    # identity signed, naming the data it came from.
    with scenario_receiver.rdb.read() as conn:
        (pub,) = conn.execute("SELECT public_key FROM gateway_keys WHERE gateway_id = ?", (h.gateway,)).fetchone()
    for b in page["batches"].values():
        body = wire.verify(wire.parse_envelope({"format": wire.FORMAT, **b}), wire.unb64(pub, "key"))
        assert body["replay"] == h.summary["replay"]
    status, page = get_json(f"{scenario_receiver.url}/v1/feed/{h.enterprise}/indicators?limit=300", token)
    assert status == 200 and page["items"] and all(i["replayed"] is True for i in page["items"])
