"""Robust statistics with answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cloud_stub import stats


def test_median_and_mad_ignore_nan_and_resist_an_outlier():
    x = [1.0, 2.0, 3.0, 4.0, 1000.0, float("nan")]
    assert stats.median(x) == 3.0
    # |x - 3| = 2, 1, 0, 1, 997 -> median 1 -> x 1.4826
    assert stats.mad(x) == pytest.approx(1.4826)
    assert math.isnan(stats.median([float("nan")]))


def test_mad_estimates_sigma_of_normal_data():
    rng = np.random.default_rng(1)
    assert stats.mad(rng.normal(0, 2.0, 20000)) == pytest.approx(2.0, rel=0.03)


def test_robust_z_uses_floor_for_constant_data():
    z = stats.robust_z([5.0, 5.0, 5.0, 6.0], floor=0.5)
    assert z.tolist() == [0.0, 0.0, 0.0, 2.0]
    with pytest.raises(ValueError):
        stats.robust_z([5.0, 5.0, 5.0])


def test_ratio_baseline_skips_unknown_and_zero_denominators():
    b = stats.ratio_baseline(np.array([10, 20, 33, 5, np.nan]), np.array([10, 20, 30, 0, 4]))
    assert (b.ratio, b.n) == (1.0, 3)


def test_theil_sen_recovers_a_line_despite_outliers():
    x = np.arange(30, dtype=float)
    y = 100 + 2.5 * x
    y[[3, 10, 20]] = [0, 500, 0]  # three broken days
    fit = stats.theil_sen(x, y)
    assert fit.slope == pytest.approx(2.5)
    assert fit.intercept == pytest.approx(100)
    assert fit.predict(10.0) == pytest.approx(125)
    with pytest.raises(ValueError):
        stats.theil_sen(np.array([1.0, 1.0]), np.array([2.0, 3.0]))


def test_cusum_alarm_index_and_onset_for_a_step():
    z = np.array([0.0] * 10 + [2.0] * 10)
    r = stats.cusum(z, k=0.5, h=5.0)
    # after the step each day adds 1.5: 1.5, 3, 4.5, 6 -> alarm on the 4th shifted day (index 13)
    assert (r.alarm, r.side, r.onset) == (13, "up", 10)
    assert r.upper[13] == pytest.approx(6.0)
    down = stats.cusum(-z, k=0.5, h=5.0)
    assert (down.alarm, down.side) == (13, "down")
    assert stats.cusum(-z, two_sided=False).alarm is None


def test_cusum_is_quiet_on_noise():
    rng = np.random.default_rng(7)
    alarms = sum(stats.cusum(rng.normal(size=90), k=0.5, h=5.0, two_sided=False).alarm is not None
                 for _ in range(200))
    assert alarms <= 20  # ARL0 for k=0.5, h=5 is ~930 steps: ~10 % of 90-step runs


def test_cusum_delay_matches_hand_sum():
    # rate/sigma = 0.5 per day: increments 0, 0.5, 1.0, 1.5, 2.0, 2.5 -> sums 0, .5, 1.5, 3, 5, 7.5
    assert stats.cusum_delay(0.01, 0.02, k=0.5, h=5.0) == 6


def test_binary_segmentation_finds_level_shifts():
    rng = np.random.default_rng(3)
    x = np.concatenate([100 + rng.normal(0, 3, 30), 5 + rng.normal(0, 1, 10), 100 + rng.normal(0, 3, 20)])
    assert stats.binary_segmentation(x) == [30, 40]
    assert stats.binary_segmentation(100 + rng.normal(0, 3, 60)) == []


def test_low_runs():
    x = np.array([9, 0, 0, np.nan, 0, 9, 0, 9, 0, 0])
    assert stats.low_runs(x, 1.0, min_len=2) == [(1, 5), (8, 10)]
    assert stats.rolling_sum(np.array([1, 2, np.nan, 4]), 2).tolist() == [3, 2, 4]
