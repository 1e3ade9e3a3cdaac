"""Device indicators against hand-computed values, including gaps, resets, rollovers and clock jumps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.indicators.base import DeviceWindow
from gateway.indicators.registry import all_indicators
from tests.indicators.helpers import ctx, one, profile, run, series

WRAP = 4294967296.0


def test_kwh_per_on_hour() -> None:
    # 10 kW for five 60 s polls (300 s on), then off; the meter moved 1.0 kWh.
    power = series([(t, 10.0 if t <= 240 else 0.0) for t in range(0, 600, 60)])
    # (apportioned by time: the reading at 600, after the window, closes its last interval)
    kwh = series([(t, 50.0 + t / 600) for t in range(0, 600, 60)], before=(-60, 49.9), counter=True,
                 after=(600, 51.0))
    v = one("energy.kwh_per_on_hour", ctx(0, 600, params={"on_threshold_kw": 3.0},
                                          energy__power_kw=power, energy__total_kwh=kwh))
    assert v.value == pytest.approx(12.0)  # 1.0 kWh / (300 s / 3600)
    assert v.quality == [] and v.detail["on_min"] == 5.0


def test_kwh_per_on_hour_machine_off() -> None:
    power = series([(t, 0.5) for t in range(0, 600, 60)])
    kwh = series([(0, 50.0), (540, 50.1)], counter=True)
    v = one("energy.kwh_per_on_hour", ctx(0, 600, energy__power_kw=power, energy__total_kwh=kwh))
    assert v.value is None and "machine_off" in v.quality


def test_kwh_per_cycle_across_a_counter_rollover() -> None:
    # The window [-10, 20): three 10 s intervals, the last closed by the reading at 20 (after it).
    kwh = series([(-10, 100.0), (0, 100.5), (10, 101.0)], counter=True, after=(20, 101.5))
    cycles = series([(-10, WRAP - 6), (0, WRAP - 1), (10, 3)], counter=True, rollover=WRAP, after=(20, 5))
    v = one("energy.kwh_per_cycle", ctx(-10, 30, poll_s=10, energy__total_kwh=kwh, machine__cycles=cycles))
    # cycles: 5 up to the wrap, 1 + 3 across it, 2 after = 11; energy 1.5 kWh
    assert v.detail["cycles"] == 11
    assert v.value == round(1.5 / 11, 6)
    assert "rollover" in v.quality


def test_cycles_with_a_counter_reset_counts_nothing_for_the_reset_interval() -> None:
    cycles = series([(-10, 500), (0, 510), (10, 2)], counter=True, after=(20, 7))
    v = one("machine.cycles", ctx(-10, 30, poll_s=10, machine__cycles=cycles))
    assert v.value == 15  # 10 before the reset, 5 after; the reset interval is not claimed
    # ... nor counted as observed: a third of the window is unknown
    assert v.quality == ["counter_reset", "partial_coverage"] and v.detail["coverage"] == pytest.approx(2 / 3, 1e-3)


def test_cycles_implausible_jump_is_not_counted() -> None:
    cycles = series([(-10, 98), (0, 100), (10, 5000)], counter=True, after=(20, 5003))
    v = one("machine.cycles", ctx(-10, 30, poll_s=10, machine__cycles=cycles))
    assert v.value == 5  # 2 + 3; the 4900 in 10 s is above 10 cycles/s
    assert "implausible_jump" in v.quality


def test_kwh_per_cycle_no_cycles() -> None:
    kwh = series([(0, 1.0), (10, 2.0)], counter=True)
    cycles = series([(0, 7), (10, 7)], counter=True)
    v = one("energy.kwh_per_cycle", ctx(0, 20, poll_s=10, energy__total_kwh=kwh, machine__cycles=cycles))
    assert v.value is None and "no_cycles" in v.quality


def test_runtime_from_running_signal_with_a_gap() -> None:
    # 1 at 0..120 (3 polls), a 10-minute gap (the clock jumped or the PLC was offline), 1 at 900..1140.
    running = series([(0, 1), (60, 1), (120, 1), (900, 1), (960, 0), (1020, 0), (1080, 1), (1140, 1)])
    v = one("machine.runtime_min", ctx(0, 1200, machine__running=running))
    # on: 0-60, 60-120, 120-300 (held at most 3 polls = 180 s), 900-960, 1080-1140, 1140-1200 = 60+60+180+60+60+60
    assert v.value == pytest.approx(8.0)
    assert v.detail["observed_min"] == pytest.approx((60 + 60 + 180 + 60 * 5) / 60)
    assert "partial_coverage" in v.quality


def _ts(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, m, d, h, mi, tzinfo=UTC).timestamp()


SHIFTS = {"shift": [{"name": "day", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"},
                    {"name": "night", "days": ["fri"], "start": "22:00", "end": "06:00"}],
          "holidays": ["2026-11-13"]}


def test_availability_against_the_shift_calendar() -> None:
    prof = profile(shifts=SHIFTS)
    start = _ts(2026, 11, 2, 7, 30)  # a Monday, 07:30-08:30: 30 planned minutes
    running = series([(start + i * 60, 1.0 if i < 45 else 0.0) for i in range(60)])
    v = one("machine.availability_pct", ctx(start, 3600, profile=prof, machine__running=running))
    assert v.value == pytest.approx(50.0)  # ran 08:00-08:15 of the planned 08:00-08:30
    assert v.detail["planned_min"] == 30 and v.detail["run_in_plan_min"] == 15
    assert v.detail["run_outside_plan_min"] == 30
    assert v.detail["source"] == "machine.running"


def test_availability_night_shift_belongs_to_the_day_it_starts_and_holidays_plan_nothing() -> None:
    prof = profile(shifts=SHIFTS)
    sat = _ts(2026, 11, 7, 0, 0)  # Saturday 00:00-01:00: Friday's night shift
    power = series([(sat + i * 60, 20.0) for i in range(60)])
    v = one("machine.availability_pct", ctx(sat, 3600, profile=prof, params={"on_threshold_kw": 3.0},
                                            energy__power_kw=power))
    assert v.value == pytest.approx(100.0) and v.detail["source"] == "energy.power_kw"
    sat_after_holiday = _ts(2026, 11, 14, 0, 0)  # Friday 13 Nov is a holiday: no night shift
    power = series([(sat_after_holiday + i * 60, 20.0) for i in range(60)])
    v = one("machine.availability_pct", ctx(sat_after_holiday, 3600, profile=prof, energy__power_kw=power))
    assert v.value is None and v.quality == ["no_planned_time"]


def test_availability_needs_a_calendar() -> None:
    power = series([(0, 20.0)])
    assert not all_indicators()["machine.availability_pct"].applies(ctx(0, 60, profile=profile(),
                                                                        energy__power_kw=power))


def test_water_and_gas_volume() -> None:
    water = series([(-5, 530.0), (0, 530.01)], counter=True, after=(5, 530.03))
    assert one("water.m3", ctx(-5, 10, poll_s=5, water__total_m3=water)).value == pytest.approx(0.03)
    gas = series([(-5, 9.99), (0, 10.0), (5, 110.0)], counter=True, after=(10, 110.02))
    v = one("gas.m3", ctx(-5, 15, poll_s=5, gas__total_m3=gas))
    assert v.value == pytest.approx(0.03)  # 0.01 + 0.02; the 100 m3 in 5 s is a bad reading
    assert "implausible_jump" in v.quality


def test_environment_with_a_gap_and_a_declared_range() -> None:
    # 20 degC at 0, 60, 120; nothing until 480 (gap); 26 degC at 480, 540. Window 0-600, polls 60 s.
    temp = series([(0, 20.0), (60, 20.0), (120, 20.0), (480, 26.0), (540, 26.0), (300, 99.0, "out_of_range")])
    prof = profile(collateral={"storage": {"store": {"temp_c": [5.0, 25.0]}}})
    c = ctx(0, 600, asset="store", profile=prof, env__temp_c=series(sorted(
        [(t, v, q) for t, v, q in zip(temp.ts, temp.values, temp.quality, strict=True)])))
    assert one("env.temp_c_min", c).value == 20.0
    assert one("env.temp_c_max", c).value == 26.0  # the out-of-range 99 is a sensor fault, not the room
    mean = one("env.temp_c_mean", c)
    # 20 holds 60+60+180 = 300 s, 26 holds 60+60 = 120 s
    assert mean.value == round((20 * 300 + 26 * 120) / 420, 4)
    assert "partial_coverage" in mean.quality
    out = one("env.temp_c_outside_min", c)
    assert out.value == 2.0 and out.detail["unobserved_min"] == 3.0 and out.detail["range"] == [5.0, 25.0]


def test_environment_outside_minutes_need_a_declared_range() -> None:
    c = ctx(0, 600, asset="office", profile=profile(), env__rh_pct=series([(0, 50.0)]))
    assert not all_indicators()["env.rh_pct_outside_min"].applies(c)
    c = ctx(0, 600, asset="office", params={"env_range": {"rh_pct": [30, 40]}}, env__rh_pct=series([(0, 50.0)]))
    assert one("env.rh_pct_outside_min", c).value == 3.0  # 50 %RH held 180 s (3 polls), all outside


def test_data_quality_per_device_and_gateway() -> None:
    devs = [DeviceWindow("m1", 1.0, 60, 55, 5, 3), DeviceWindow("m2", 1.0, 60, 60, 0, 3)]
    vals = run("data.polls_failed", ctx(0, 60, devices=devs))
    assert [(v.subject, v.value) for v in vals] == [("m1", 5.0), ("m2", 0.0)]
    clock = one("data.clock_synced", ctx(0, 60, devices=devs))
    assert clock.subject == "gateway" and clock.value in (0.0, 1.0) and "sampled_at_compute" in clock.quality


def test_runtime_after_the_clock_was_set_back_never_counts_time_twice() -> None:
    # readings at 0, 60, 120 (running), then the clock is set back 90 s and two more come in
    # stamped 30 and 90 (stopped). Sorted by time they interleave; no second is counted twice.
    running = series(sorted([(0, 1), (60, 1), (120, 1), (30, 0), (90, 0)]))
    v = one("machine.runtime_min", ctx(0, 600, machine__running=running))
    assert v.value == 4.0  # 0-30, 60-90 and 120-300 (held three polls)
    assert v.detail["observed_min"] == 5.0 <= 10.0


def test_loss_counters_once_per_window_for_the_gateway(tmp_path) -> None:  # noqa: ANN001
    from gateway.store import Store

    st = Store(tmp_path / "s.db", "NORMAL")
    try:
        st.add_readings([], [(1.0, "m1", 0, "timeout"), (2.0, "m1", 0, "timeout"), (3.0, "m1", 1, None)])
        v = one("data.loss_total", ctx(0, 60, store=st))
        assert v.subject == "gateway" and v.value == 2.0 and v.detail["polls_failed"] == 2
    finally:
        st.close()


def test_shift_section_errors_name_the_key() -> None:
    from gateway.indicators.shifts import load_shifts
    from gateway.profile import ProfileError

    with pytest.raises(ProfileError, match=r"shifts.shift\[0\].start"):
        load_shifts({"shift": [{"name": "d", "start": "8:00", "end": "20:00"}]})
    with pytest.raises(ProfileError, match=r"shifts.shift\[0\].days"):
        load_shifts({"shift": [{"name": "d", "start": "08:00", "end": "20:00", "days": ["monday"]}]})
    with pytest.raises(ProfileError, match="shifts.holidays"):
        load_shifts({"holidays": ["1 Oct"]})
    with pytest.raises(ProfileError, match="shifts.timezone"):
        load_shifts({"timezone": "Mars/Olympus"})
