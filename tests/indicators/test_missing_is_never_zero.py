"""Missing is never zero: every registered indicator, with its inputs absent and half present.

The walk iterates the registry, so an indicator added later is walked too: if it reads a
meaning this file has no signal for, or does not apply in the walk's context, the test says
so and fails, rather than skipping it.

* absent: each input meaning is declared (the asset has the point) but has no reading in or
  around the window -> no record, or a null value flagged ``no_data``; never a number.
* half present: readings only in the first half of the window -> ``coverage`` ~0.5 in the
  detail, ``partial_coverage`` flagged, and the value is the observed half's: an amount (minutes,
  kWh, counts) is the full window's amount times the share observed, a level or ratio (kW, %, °C)
  is the full window's, never diluted by zeros for the unobserved half.

Enterprise indicators (MES/ERP) read imported rows, not readings: with their dataset absent
they do not apply (no record), which is checked here too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.indicators.base import DeviceWindow, Indicator, Series, WindowContext
from gateway.indicators.enterprise import DAY, SCOPE, EnterpriseIndicator
from gateway.indicators.registry import all_indicators
from gateway.store import Store
from tests.indicators.helpers import profile

START = datetime(2026, 10, 5, 8, 0, tzinfo=UTC).timestamp()  # a Monday, inside the declared shift
LENGTH = 3600.0
POLL = 60.0
# Cumulative counters: increase per poll.
COUNTERS = {"energy.total_kwh": 0.5, "machine.cycles": 3.0, "water.total_m3": 0.01, "gas.total_m3": 0.01,
            "vision.units_in": 2.0, "vision.units_out": 2.0, "vision.safety_events": 1.0,
            "collateral.geofence_exits": 1.0}
# Gauges: a steady value (machine on, room in range, camera up, stack on the scale).
GAUGES = {"energy.power_kw": 10.0, "machine.running": 1.0, "env.temp_c": 20.0, "env.rh_pct": 50.0,
          "env.pressure_hpa": 1000.0, "vision.camera_up": 1.0, "vision.line_active": 1.0,
          "vision.people_present": 2.0, "collateral.weight_kg": 1000.0, "collateral.inside_geofence": 1.0}
# Amounts over the window (scale with the time observed); every other unit is a level or ratio.
AMOUNT_UNITS = {"min", "kWh", "count", "m3", "units", "events"}
# Indicators whose subject is the observation itself: coverage 0 %, polls failed, minutes with
# no reading are what "not observed" looks like when measured, so a number is right there.
MEASURE_ABSENCE = {"data.coverage_pct", "data.polls_failed", "data.loss_total", "data.clock_synced",
                   "collateral.offline_min"}
KNOWN_ABSENT: dict[str, str] = {}  # strict xfails: none left
KNOWN_HALF: dict[str, str] = {}

PROFILE = profile(
    shifts={"shift": [{"name": "day", "start": "06:00", "end": "18:00",
                       "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}]},
    collateral={"pledges": [{"asset": "a", "baseline_kg": 1000.0}],
                "storage": {"a": {"temp_c": [0, 40], "rh_pct": [0, 100], "pressure_hpa": [900, 1100]}}},
)


def _inputs(ind: Indicator) -> list[str]:
    return list(dict.fromkeys([*ind.requires, *ind.requires_any, *ind.reads]))


def _series(meaning: str, until: float | None) -> Series:
    """Readings every POLL from the window's start up to ``until`` (inclusive; None: absent).
    A counter also has its reading before the window and, when read to the end, the one after."""
    if meaning not in COUNTERS and meaning not in GAUGES:
        raise AssertionError(f"the walk has no signal for meaning {meaning!r}: add it to COUNTERS or GAUGES")
    if until is None:
        return Series([], [], [], counter=meaning in COUNTERS, poll_s=POLL)
    ts = [START + POLL * i for i in range(int((until - START) // POLL) + 1) if START + POLL * i < START + LENGTH]
    if meaning in COUNTERS:
        rate = COUNTERS[meaning]
        vals = [100.0 + rate * (i + 1) for i in range(len(ts))]
        after = (START + LENGTH, 100.0 + rate * (LENGTH / POLL + 1)) if until >= START + LENGTH else None
        return Series(ts, list(vals), ["good"] * len(ts), before=(START - POLL, 100.0), counter=True,
                      after=after, poll_s=POLL)
    return Series(ts, [GAUGES[meaning]] * len(ts), ["good"] * len(ts), poll_s=POLL)


def _ctx(ind: Indicator, until: float | None) -> WindowContext:
    series = {m: _series(m, until) for m in _inputs(ind)}
    polls = 0 if until is None else int(min(until - START, LENGTH) // POLL) + 1
    return WindowContext(asset="a", start=START, length=LENGTH, series=series,
                         devices=[DeviceWindow("dev", POLL, int(LENGTH / POLL), polls, 0, len(series))],
                         params={"role": "line"}, profile=PROFILE, store=None,
                         series_by_point={m: {m.split(".")[1]: s} for m, s in series.items()})


def _device_indicators() -> list[str]:
    return sorted(n for n, i in all_indicators().items() if not isinstance(i, EnterpriseIndicator))


def _param(name: str, known: dict[str, str]) -> Any:
    if name in known:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=known[name]))
    return name


def test_the_walk_covers_the_registry() -> None:
    names = _device_indicators()
    assert len(names) >= 40  # the walk found the registry, not an empty list
    for n in names:
        if n in MEASURE_ABSENCE:
            continue  # not walked (data.loss_total needs a store)
        ind = all_indicators()[n]
        ctx = _ctx(ind, START + LENGTH)
        assert ind.applies(ctx), f"{n} does not apply in the walk's context: give the walk what it needs"


@pytest.mark.parametrize("name", [_param(n, KNOWN_ABSENT) for n in _device_indicators()])
def test_absent_input_is_no_record_or_null(name: str) -> None:
    ind = all_indicators()[name]
    ctx = _ctx(ind, None)
    values = ind.compute(ctx) if ind.applies(ctx) else []
    if name in MEASURE_ABSENCE:
        return  # a measure of absence itself (see MEASURE_ABSENCE)
    for v in values:
        assert v.value is None, f"{name}: {v.value!r} from no readings ({v.quality})"
        assert "no_data" in v.quality, f"{name}: null without no_data ({v.quality})"


@pytest.mark.parametrize("name", [_param(n, KNOWN_HALF) for n in _device_indicators()
                                  if n not in MEASURE_ABSENCE])
def test_half_present_input_carries_its_coverage_and_is_not_diluted(name: str) -> None:
    ind = all_indicators()[name]
    full = ind.compute(_ctx(ind, START + LENGTH))
    half = ind.compute(_ctx(ind, START + LENGTH / 2))
    assert len(full) == len(half) >= 1, name
    for f, h in zip(full, half, strict=True):
        assert f.value is not None and h.value is not None, f"{name}: {f} / {h}"
        assert f.detail.get("coverage") == pytest.approx(1.0, abs=0.02), f"{name}: full window {f.detail}"
        cov = h.detail.get("coverage")
        assert cov is not None and cov == pytest.approx(0.5, abs=0.1), f"{name}: half window {h.detail}"
        assert "partial_coverage" in h.quality, f"{name}: {h.quality}"
        amount = ind.unit in AMOUNT_UNITS
        expected = f.value * cov / f.detail["coverage"] if amount else f.value
        kind = "an amount" if amount else "a level"
        assert h.value == pytest.approx(expected, rel=0.02, abs=1e-9), (
            f"{name}: {h.value} over half the window; expected {expected} ({kind})")


def test_enterprise_indicators_without_their_rows_make_no_record(tmp_path: Path) -> None:
    """MES/ERP indicators read imported rows: a dataset never imported yields no record."""
    store = Store(tmp_path / "s.db", "NORMAL")
    ents = [i for i in all_indicators().values() if isinstance(i, EnterpriseIndicator)]
    assert ents
    ctx = WindowContext(asset="enterprise", start=START, length=86400, series={}, devices=[],
                        params={"_scope": SCOPE, "period": DAY, "tz": UTC, "_cache": {}}, profile=PROFILE,
                        store=store)
    for ind in ents:
        if ind.dataset:
            assert not ind.applies(ctx), f"{ind.name} applies with no {ind.dataset} rows"
    store.close()
