"""Energy intensity: kWh per machine-on hour and per cycle (ISO 50006-style EnPIs).

A bank compares these with the enterprise's own history: output claimed with no matching
energy, or energy with no output, moves the ratio."""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.counters import CounterWindow, window_counter
from gateway.indicators.intervals import max_gap, state_intervals
from gateway.indicators.machine import DEFAULT_ON_THRESHOLD_KW
from gateway.indicators.production import DEFAULT_MAX_CYCLES_PER_S
from gateway.indicators.registry import register
from gateway.indicators.shifts import overlap

MAX_KW = 2000.0  # same plausibility bound as energy.kwh
MIN_ON_S = 60.0  # below a minute on, a per-hour ratio is noise


def _kwh(ctx: WindowContext) -> CounterWindow:
    return window_counter(ctx, ctx.series["energy.total_kwh"], max_rate_per_s=MAX_KW / 3600.0)


@register
class KwhPerOnHour(Indicator):
    name = "energy.kwh_per_on_hour"
    category = "energy"
    unit = "kWh/h"
    version = 2  # v2: energy apportioned by time; null (no_data) when either input was not observed
    requires = ("energy.total_kwh", "energy.power_kw")

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        """The on-time counted is the on-time inside the stretches the meter's counter was
        observed (its kWh is of those stretches); the coverage is the time both were observed."""
        k = _kwh(ctx)
        threshold = float(ctx.params.get("on_threshold_kw", DEFAULT_ON_THRESHOLD_KW))
        on_iv, seen_iv = state_intervals(ctx.series["energy.power_kw"], ctx.start, ctx.end, max_gap(ctx),
                                         lambda v: v > threshold)
        spans = list(k.spans)
        on, seen = overlap(on_iv, spans), overlap(seen_iv, spans)
        if k.value is None or seen <= 0:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        cov = seen / ctx.length
        flags = [f for f in k.flags if f != "partial_coverage"] + (["partial_coverage"] if cov < 0.9 else [])
        if on < MIN_ON_S:
            return [self.value(ctx, None, [*flags, "machine_off"], kwh=k.value, coverage=round(cov, 4))]
        return [self.value(ctx, round(k.value / (on / 3600), 6), flags, on_min=round(on / 60, 4),
                           coverage=round(cov, 4))]


@register
class KwhPerCycle(Indicator):
    name = "energy.kwh_per_cycle"
    category = "energy"
    unit = "kWh/cycle"
    version = 2  # v2: both counters apportioned by time; null (no_data) when either was not observed
    requires = ("energy.total_kwh", "machine.cycles")

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        k = _kwh(ctx)
        rate = float(ctx.params.get("max_cycles_per_s", DEFAULT_MAX_CYCLES_PER_S))
        c = window_counter(ctx, ctx.series["machine.cycles"], max_rate_per_s=rate)
        if k.value is None or c.value is None:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        flags = list(dict.fromkeys([*k.flags, *c.flags]))
        cov = round(min(k.coverage, c.coverage), 4)
        if c.value <= 0:
            return [self.value(ctx, None, [*flags, "no_cycles"], coverage=cov)]
        return [self.value(ctx, round(k.value / c.value, 6), flags, cycles=round(c.value, 6), coverage=cov)]
