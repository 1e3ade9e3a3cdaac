"""Counters apportioned to windows by time: hourly snapshots, irregular reads, gaps, resets, wraps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.indicators.base import Series
from gateway.indicators.counters import counter_window

H = 3600.0


def _windows(pts: list[tuple[float, float]], first: float, n: int, length: float, gap_s: float,
             rollover: float | None = None):  # noqa: ANN202
    """Each window as the engine builds it: readings inside, the last before, the first after."""
    out = []
    for k in range(n):
        a, b = first + k * length, first + (k + 1) * length
        inside = [(t, v) for t, v in pts if a <= t < b]
        before = max(((t, v) for t, v in pts if t < a), default=None)
        after = min(((t, v) for t, v in pts if t >= b), default=None)
        s = Series([t for t, _ in inside], [v for _, v in inside], ["good"] * len(inside), before=before,
                   counter=True, rollover=rollover, after=after)
        out.append(counter_window(s, a, b, gap_s))
    return out


def test_hourly_snapshots_book_each_hour_to_its_own_window() -> None:
    # Snapshots at :00; the press made 10 kWh from 16:00 to 17:00, 40 from 17:00 to 18:00, 5 after.
    pts = [(16 * H, 1000.0), (17 * H, 1010.0), (18 * H, 1050.0), (19 * H, 1055.0)]
    w16, w17, w18 = _windows(pts, 16 * H, 3, H, gap_s=3 * H)
    assert (w16.value, w17.value, w18.value) == (10.0, 40.0, 5.0)  # not shifted one hour later
    assert w17.flags == [] and w17.coverage == 1.0
    # 15-minute windows inside one hourly interval: a quarter each, fully covered (not a gap)
    quarters = _windows(pts, 17 * H, 4, 900.0, gap_s=3 * H)
    assert [q.value for q in quarters] == [10.0] * 4 and all(q.coverage == 1.0 for q in quarters)


def test_the_last_window_waits_for_its_closing_reading() -> None:
    pts = [(16 * H, 1000.0), (17 * H, 1010.0)]
    (w17,) = _windows(pts, 17 * H, 1, H, gap_s=3 * H)
    assert w17.value is None and w17.flags == ["no_data"]  # not 0: the 17:00-18:00 increase is unknown


def test_irregular_reads_over_a_bad_link() -> None:
    # 1 kWh a minute, 5-minute polls, some lost: intervals of 5, 10, 14 minutes are ordinary (<= 3 polls)
    pts = [(0.0, 0.0), (300.0, 5.0), (900.0, 15.0), (1740.0, 29.0), (2100.0, 35.0)]
    w0, w1 = _windows(pts, 0.0, 2, 900.0, gap_s=900.0)
    assert w0.value == pytest.approx(15.0) and w0.coverage == 1.0 and w0.flags == []
    # 900..1740 gives 14; 1740..2100 (6 kWh over 6 minutes) gives its first minute, 1
    assert w1.value == pytest.approx(15.0) and w1.coverage == 1.0 and w1.flags == []


def test_a_jump_after_a_gap_is_spread_over_the_gap_and_flagged() -> None:
    # Hourly windows, 5-minute polls; the gateway was off 10:00-14:00 while the meter went on (4 kWh/h).
    pts = [(10 * H - 300, 99.6667), (10 * H, 100.0), (14 * H, 116.0), (14 * H + 300, 116.3333)]
    wins = _windows(pts, 10 * H, 4, H, gap_s=900.0)
    assert [w.value for w in wins] == [pytest.approx(4.0)] * 4  # not 0, 0, 0 then a 16 kWh spike
    for w in wins:
        assert "gap_interpolated" in w.flags and "partial_coverage" in w.flags
        assert w.coverage == 0.0 and w.interpolated_s == H  # interpolation is not observation


def test_reset_and_rollover_per_interval() -> None:
    pts = [(0.0, 500.0), (60.0, 510.0), (120.0, 2.0), (180.0, 7.0), (240.0, 9.0)]
    (w,) = _windows(pts, 0.0, 1, 240.0, gap_s=180.0)
    assert w.value == 17.0 and "counter_reset" in w.flags  # 10 + 5 + 2: the reset interval claims nothing
    assert w.coverage == pytest.approx(0.75)  # ... and is not observed time
    wrap = 1000.0
    pts = [(0.0, 990.0), (60.0, 998.0), (120.0, 4.0), (180.0, 6.0)]
    (w,) = _windows(pts, 0.0, 1, 180.0, gap_s=180.0, rollover=wrap)
    assert w.value == 16.0 and w.flags == ["rollover"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(1.0, 7200.0), st.floats(0.0, 50.0)), min_size=2, max_size=40),
       st.sampled_from([300.0, 900.0, 3600.0]))
def test_apportioning_conserves_the_increase(steps: list[tuple[float, float]], length: float) -> None:
    """Over windows tiling the readings, the apportioned values add up to the counter's increase,
    whatever the spacing (ordinary or gap): nothing is lost or booked twice."""
    t, v = 0.0, 1000.0
    pts = [(t, v)]
    for dt, dv in steps:
        t, v = t + dt, v + dv
        pts.append((t, v))
    n = int(t // length) + 1
    wins = _windows(pts, 0.0, n, length, gap_s=900.0)
    assert sum(w.value or 0.0 for w in wins) == pytest.approx(v - 1000.0, abs=1e-4 * n)
    for w in wins:
        assert w.value is None or w.value >= 0


def test_an_interval_longer_than_the_max_spread_is_not_claimed() -> None:
    pts = [(0.0, 100.0), (3 * 86400.0, 400.0)]  # three days of silence, then 300 more
    s = Series([], [], [], before=pts[0], counter=True, after=pts[1])
    w = counter_window(s, 86400.0, 86400.0 + H, gap_s=900.0, max_span_s=2 * 86400.0)
    assert w.value is None and w.flags == ["gap_too_long", "no_data"] and w.coverage == 0.0
    w = counter_window(s, 86400.0, 86400.0 + H, gap_s=900.0, max_span_s=4 * 86400.0)
    assert w.value == pytest.approx(300.0 / 72) and "gap_interpolated" in w.flags
