"""Slow payers graded by weight of evidence (repay_ageing_shift v2) through replayed histories into a real receiver.

One generated slow_payers history (eight weeks from Monday 2026-10-12, 90 % of the payments falling due from
day 14 on never arrive) assessed as of three days shows each grade: two weeks before its end (the old share
has just begun to rise: yellow), ten days before (rising, and still rising: orange) and at its end (the old
share, the whole overdue book and the trend: red, where version 1 says orange). An honest plant with the same
finance exports stays quiet. A score made while version 1 was current still rescores bit for bit.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud_stub.analysis import analyse, verify_score
from cloud_stub.rules import base
from cloud_stub.rules.repay_ageing_shift import AgeingShift
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from tests.replay.replay_helpers import LiveReceiver, replay_identity, run_replay

START = date(2026, 10, 12)
INTERVAL_S = 6 * 3600  # the finance exports are daily; coarse device rows keep each replay short


def _replay(r: LiveReceiver, root: Any, name: str, days: int, size: float | None) -> tuple[str, int]:
    meta = write_scenario(ScenarioConfig(scenario=name, days=days, seed=1, interval_s=INTERVAL_S, start=START,
                                         finance=True, size=size), root / "data")
    ent = f"ent-grades-{name.replace('_', '-')}"
    replay_identity(r, root / "state", ent, f"{ent}-gw", profile=meta["profile"])
    run_replay(r, root / "state", root / "data", profile=meta["profile"])
    end = date.fromisoformat(meta["end"]) + timedelta(days=1)
    return ent, int(datetime(end.year, end.month, end.day, tzinfo=ZoneInfo(meta["timezone"])).timestamp())


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory, scenario_receiver: LiveReceiver) -> dict[str, Any]:
    out = {}
    for name, days, size in (("honest", 21, None), ("slow_payers", 56, 0.9)):
        out[name] = _replay(scenario_receiver, tmp_path_factory.mktemp(f"grades-{name}"), name, days, size)
    return out


def ageing(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["repayment"]["findings"] if f["rule"] == "repay_ageing_shift"]


@pytest.mark.parametrize(("days_before_end", "severity", "points"), [(15, "yellow", 2), (10, "orange", 3),
                                                                     (0, "red", 4)])
def test_each_grade_with_its_evidence(histories, scenario_receiver: LiveReceiver, days_before_end: int,
                                      severity: str, points: int) -> None:
    ent, end = histories["slow_payers"]
    report = analyse(scenario_receiver.rdb, ent, as_of=end - days_before_end * 86400, days=112,
                     signing_key=scenario_receiver.key)
    (f,) = ageing(report)
    assert f["version"] == 2 and report["repayment"]["rules"]["repay_ageing_shift"] == 2
    assert f["severity"] == severity, f["statistic"]
    ev = f["statistic"]["evidence"]
    assert f["statistic"]["points"] == points == sum(e["points"] for e in ev.values())
    assert ev["old_share_rise"]["points"] >= 1 and ev["still_rising"]["points"] == 1
    assert f["threshold"]["red_points"] == 4 and f"{points} points of evidence" in f["message"]
    if severity == "red":  # version 1 grades the old share's rise alone: orange
        assert 15 <= ev["old_share_rise"]["pp"] < 30 and ev["overdue_share_rise"]["points"] >= 1
    # the worked example of docs/cross-verification.md, "Slow payers"
    assert [ev[k]["pp"] for k in ("old_share_rise", "overdue_share_rise", "still_rising")] == \
        {15: [9.52, 8.13, 5.91], 10: [17.35, 17.35, 9.53], 0: [28.88, 29.68, 7.4]}[days_before_end]
    with scenario_receiver.rdb.read() as conn:
        sid = conn.execute("SELECT max(id) FROM scores WHERE enterprise_id = ?", (ent,)).fetchone()[0]
    assert verify_score(scenario_receiver.rdb, sid)["reproducible"]


def test_the_honest_plant_stays_quiet(histories, scenario_receiver: LiveReceiver) -> None:
    ent, end = histories["honest"]
    report = analyse(scenario_receiver.rdb, ent, as_of=end, days=42, signing_key=scenario_receiver.key)
    assert report["repayment"]["observed"]["repay_ageing_shift"] and ageing(report) == []


def test_a_version_1_score_still_rescores_bit_for_bit(histories, scenario_receiver: LiveReceiver,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A score stored by a receiver from before version 2 (version 1 current), recomputed by this one."""
    ent, end = histories["slow_payers"]
    with monkeypatch.context() as m:  # the registry as it was before repay_ageing_shift_v2.py shipped
        m.setitem(base._REPAYMENT, "repay_ageing_shift", AgeingShift)
        old = analyse(scenario_receiver.rdb, ent, as_of=end, days=112, signing_key=scenario_receiver.key)
    (f,) = ageing(old)
    assert f["version"] == 1 and f["severity"] == "orange" and "evidence" not in f["statistic"]
    with scenario_receiver.rdb.read() as conn:
        sid = conn.execute("SELECT max(id) FROM scores WHERE enterprise_id = ?", (ent,)).fetchone()[0]
    v = verify_score(scenario_receiver.rdb, sid)  # version 2 is current again: version 1 is found by its number
    assert v["reproducible"], v
