"""The calibration plants through the whole product: realistic plants (gateway/replay/scenarios.py,
``plant="realistic"``) replayed by the real CLI into a real receiver, analysed with the shipped
rules and scorecard as of a given day. A few plants with short histories (four weeks at 15-minute
sampling); bench/detection.py runs the same path over many seeds and sizes for the error rates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud_stub.analysis import analyse
from cloud_stub.rules import all_rules
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from tests.replay.replay_helpers import LiveReceiver, replay_identity, run_replay

DAYS, ONSET, INTERVAL_S = 28, 16, 900
START = date(2026, 3, 2)  # a Monday; the onset (day 16) is a Wednesday
ORDER = ("info", "yellow", "orange", "red")
# Every rule is held to it (collateral_changes v2 no longer reads a forklift as steps).
NOT_YET_CALIBRATED: tuple[str, ...] = ()


@dataclass
class Plant:
    meta: dict[str, Any]
    enterprise: str
    receiver: LiveReceiver

    def report(self, days_after_onset: int) -> dict[str, Any]:
        """The analysis as of the end of the day ``days_after_onset`` after the onset (or of the history)."""
        tz = ZoneInfo(self.meta["timezone"])
        last = START + timedelta(days=min(ONSET + days_after_onset, DAYS - 1) + 1)
        as_of = int(datetime(last.year, last.month, last.day, tzinfo=tz).timestamp())
        return analyse(self.receiver.rdb, self.enterprise, as_of=as_of, days=(last - START).days,
                       signing_key=self.receiver.key)


@pytest.fixture(scope="session")
def plant(tmp_path_factory: pytest.TempPathFactory, scenario_receiver: LiveReceiver) -> Callable[..., Plant]:
    built: dict[tuple[str, float | None, int], Plant] = {}

    def get(name: str, size: float | None = None, seed: int = 11) -> Plant:
        k = (name, size, seed)
        if k not in built:
            root: Path = tmp_path_factory.mktemp(f"calibration-{name}")
            meta = write_scenario(ScenarioConfig(scenario=name, days=DAYS, seed=seed, interval_s=INTERVAL_S,
                                                 plant="realistic", start=START, size=size, onset_day=ONSET),
                                  root / "data")
            ent = f"ent-cal-{name.replace('_', '-')}-{seed}"
            replay_identity(scenario_receiver, root / "state", ent, f"cal-{name.replace('_', '-')}-{seed}")
            summary = run_replay(scenario_receiver, root / "state", root / "data")
            assert summary["accepted"] == summary["batches"] > 0
            built[k] = Plant(meta, ent, scenario_receiver)
        return built[k]

    return get


def above(report: dict[str, Any], sev: str, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(f["rule"], f["severity"]) for f in report["findings"]
            if ORDER.index(f["severity"]) > ORDER.index(sev) and f["rule"] not in skip]


def test_an_honest_realistic_plant_raises_nothing_above_yellow(plant) -> None:
    p = plant("honest")
    real = p.meta["plant"]["realism"]
    assert real["forklifts"] or real["outages"] or real["late_booking"]  # the seed carries real-life noise
    report = p.report(DAYS)
    assert above(report, "yellow", NOT_YET_CALIBRATED) == [], report["findings"]
    assert set(all_rules()) == set(report["rules"])  # nothing above yellow, and every rule ran
    assert report["warning_level"] in ("green", "yellow")


def test_intermittent_phantom_shipments_on_days_with_a_real_truck_turn_red_within_ten_days(plant) -> None:
    p = plant("phantom_shipments", 0.5)
    fakes = set(p.meta["ground_truth"]["phantom_days"])
    assert len(fakes) >= 3
    report = p.report(10)
    ship = [f for f in report["findings"] if f["rule"] == "shipments_vs_outcounts"]
    assert "red" in [f["severity"] for f in ship], ship
    assert all(f["version"] == 3 for f in ship)
    # The per-out-movement check names the days, and they are the fake notes' days.
    (unmatched,) = [f for f in ship if f["key"].startswith("unmatched_shipments")]
    named = {d["day"] for d in unmatched["compared"]["days"]}
    assert named and named <= fakes
    # Where the privacy policy left the day's shipment count visible, it exceeds the trucks seen.
    assert all(d["shipments"] is None or d["shipments"] > d["out_movements_seen"]
               for d in unmatched["compared"]["days"])
    # Before the onset the same plant is clean on shipments (and the rule ran on it).
    honest = plant("honest").report(DAYS)
    assert "shipments_vs_outcounts" in honest["rules"]
    assert not [f for f in honest["findings"]
                if f["rule"] == "shipments_vs_outcounts" and f["severity"] in ("orange", "red")]


def test_inflation_of_fifteen_percent_is_orange_within_seven_days(plant) -> None:
    p = plant("inflated", 0.15)
    onset_ts = p.meta["ground_truth"]["onset_ts"]
    report = p.report(7)
    hits = [f for f in report["findings"] if f["subscore"] == "production_authenticity"
            and f["severity"] in ("orange", "red") and f["window"]["end"] > onset_ts]
    assert hits, report["findings"]
