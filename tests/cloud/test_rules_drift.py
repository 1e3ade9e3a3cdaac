"""Drift detection: gradual MES inflation is caught within the documented number of days."""

from __future__ import annotations

import pytest
from rule_inputs_helpers import DAY0, Factory, build, evidence

from cloud_stub import stats
from cloud_stub.db import ReceiverDB
from cloud_stub.rules._common import day_label
from cloud_stub.rules.drift_cusum import DriftCusum


@pytest.mark.parametrize("rate", [0.01, 0.02])
def test_gradual_inflation_is_caught_within_bounded_days(tmp_path, rate):
    start = 15  # inflation grows by `rate` per calendar day from day 15
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    build(rdb, Factory(days=42, mes_factor=lambda d: 1.0 + rate * max(0, d - start + 1)))
    ev = evidence(rdb, days=42)
    found = {f.indicators[1]: f for f in DriftCusum().evaluate(ev, dict(DriftCusum.defaults))}
    cam = found["vision.units_out"]
    alarm_day = next(d for d in range(42) if day_label(DAY0 + d * 86400) == cam.compared["alarm_day"])
    # Bound: the noise-free CUSUM delay at the sigma floor (in compared, i.e. working, days),
    # x 7/5 for weekends, + 3 calendar days of slack for noise.
    bound_work_days = stats.cusum_delay(rate, DriftCusum.defaults["sigma_floor"]["vision.units_out"])
    assert cam.severity in ("orange", "red")
    assert cam.compared["detection_delay_days"] <= bound_work_days + 1
    assert alarm_day - start <= bound_work_days * 7 / 5 + 3


def test_honest_history_raises_no_drift(tmp_path):
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    build(rdb, Factory(days=42, seed=5))
    assert DriftCusum().evaluate(evidence(rdb, days=42), dict(DriftCusum.defaults)) == []


def test_documented_delays():
    sigma = DriftCusum.defaults["sigma_floor"]["vision.units_out"]
    assert [stats.cusum_delay(r, sigma) for r in (0.005, 0.01, 0.02)] == [11, 7, 5]
