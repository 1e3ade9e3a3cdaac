"""Properties of the load-step detector (gateway/indicators/load_steps.py): a load that comes
and goes within the hold time is never a step, a held change above the threshold is exactly
one step of its size, and drift slower than the threshold per block is never either."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.indicators.load_steps import StepParams, detect, lookback_s, noise_sd, threshold_kg

P = StepParams(hold_s=3600, block_s=60)
T0 = 1_790_000_000.0


def readings(level: float, noise: float, seconds: float, every: float, seed: int, events=()) -> list:
    """(t, kg) every ``every`` s; ``events`` are (start, end or None, kg) added on top."""
    rng = random.Random(seed)
    out = []
    for i in range(int(seconds / every)):
        t = T0 + i * every
        kg = level + rng.gauss(0, noise)
        kg += sum(k for a, b, k in events if T0 + a <= t and (b is None or t < T0 + b))
        out.append((t, kg))
    return out


@settings(max_examples=25, deadline=None)
@given(level=st.floats(1_000, 200_000), noise_share=st.floats(0.00005, 0.002), start=st.floats(3600, 7200),
       dur=st.floats(120, 3000), load_share=st.floats(-0.2, 0.2), seed=st.integers(0, 1000))
def test_a_load_that_comes_and_goes_is_never_a_step(level, noise_share, start, dur, load_share, seed):
    pts = readings(level, level * noise_share, 5 * 3600, 30, seed, [(start, start + dur, level * load_share)])
    thr = threshold_kg(noise_sd(pts), level, P)
    steps, trans, _ = detect(pts, thr, P)
    assert steps == []
    assert len(trans) == (1 if abs(level * load_share) > thr * 1.3 else len(trans))


@settings(max_examples=25, deadline=None)
@given(level=st.floats(1_000, 200_000), noise_share=st.floats(0.00005, 0.001), at=st.floats(3600, 7200),
       change=st.floats(0.02, 0.3), sign=st.sampled_from([-1, 1]), seed=st.integers(0, 1000))
def test_a_held_change_above_the_threshold_is_one_step_of_its_size(level, noise_share, at, change, sign, seed):
    kg = sign * change * level
    pts = readings(level, level * noise_share, at + 2 * 3600, 30, seed, [(at, None, kg)])
    thr = threshold_kg(noise_sd(pts), level, P)
    steps, trans, end = detect(pts, thr, P)
    assert len(steps) == 1 and trans == []
    s = steps[0]
    assert abs(s.kg - kg) <= max(thr / 2, 6 * level * noise_share)
    assert T0 + at <= s.t <= T0 + at + 2 * P.block_s and s.confirmed - s.t >= P.hold_s
    assert end is not None and abs(end - (level + kg)) <= thr


@settings(max_examples=20, deadline=None)
@given(level=st.floats(1_000, 200_000), pct_per_hour=st.floats(-0.5, 0.5), seed=st.integers(0, 1000))
def test_drift_slower_than_the_threshold_is_followed_not_stepped(level, pct_per_hour, seed):
    rng = random.Random(seed)
    pts = [(T0 + i * 30, level * (1 + pct_per_hour / 100 * i * 30 / 3600) + rng.gauss(0, level * 0.0002))
           for i in range(int(10 * 3600 / 30))]
    thr = threshold_kg(noise_sd(pts), level, P)
    assert detect(pts, thr, P)[:2] == ([], [])


def test_the_lookback_covers_three_hold_times():
    assert lookback_s(P) == 3 * 3600 + 120


def test_the_pallet_emulator_reads_like_a_real_scale_and_stays_step_free():
    """The HX711 twin's ``pallet`` scenario with drift and forklifts (sim = { drift_pct_day = ...,
    forklifts_per_day = ... }): a day at 5 s has forklift transients and no step."""
    from drivers.sim.scenarios import SCENARIOS

    p = {"weight_kg": 100_000.0, "drift_pct_day": 0.05, "diurnal_pct": 0.02, "forklifts_per_day": 4.0,
         "noise_kg": 20.0}
    rng = random.Random(3)
    pts = [(T0 + i * 5, SCENARIOS["pallet"](T0 + i * 5, p, rng)["collateral.weight_kg"]) for i in range(17280)]
    sd = noise_sd(pts)
    assert 15 < sd < 25
    steps, trans, _ = detect(pts, threshold_kg(sd, 100_000.0, P), P)
    assert steps == [] and len(trans) >= 1 and all(2000 < t.max_kg < 7000 for t in trans)
