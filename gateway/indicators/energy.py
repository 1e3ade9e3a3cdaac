"""Energy indicators from a meter's total import counter and its power reading."""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.counters import time_weighted, window_counter
from gateway.indicators.intervals import max_gap, observed
from gateway.indicators.registry import register


@register
class EnergyUsed(Indicator):
    """kWh used in the window: increases of the total import counter apportioned by time
    (see counters.counter_window); null with ``no_data`` when the meter was not read across it."""

    name = "energy.kwh"
    category = "energy"
    unit = "kWh"
    version = 2  # v2: apportioned by time, null when unobserved, coverage in detail
    requires = ("energy.total_kwh",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        # A three-phase workshop supply above 2 MW is not a small manufacturer: a jump that
        # fast is a bad reading, not energy.
        c = window_counter(ctx, ctx.series["energy.total_kwh"], max_rate_per_s=2000.0 / 3600.0)
        return [self.value(ctx, c.value, c.flags, **c.detail())]


@register
class AveragePower(Indicator):
    name = "energy.avg_kw"
    category = "energy"
    unit = "kW"
    version = 2  # v2: coverage and partial_coverage
    requires = ("energy.power_kw",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        spans = time_weighted(ctx.series["energy.power_kw"], ctx.start, ctx.end, max_gap(ctx))
        secs = sum(s for _, s in spans)
        if secs <= 0:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        flags, detail = observed(secs, ctx.length)
        return [self.value(ctx, round(sum(v * s for v, s in spans) / secs, 6), flags, covered_s=round(secs, 3),
                           **detail)]


@register
class PeakPower(Indicator):
    name = "energy.peak_kw"
    category = "energy"
    unit = "kW"
    version = 2  # v2: coverage and partial_coverage
    requires = ("energy.power_kw",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        series = ctx.series["energy.power_kw"]
        vals = [v for _, v in series.good()]
        if not vals:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        secs = sum(s for _, s in time_weighted(series, ctx.start, ctx.end, max_gap(ctx)))
        flags, detail = observed(secs, ctx.length)
        return [self.value(ctx, round(max(vals), 6), flags, **detail)]
