"""Energy indicators from a meter's total import counter and its power reading."""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.counters import counter_delta, time_weighted
from gateway.indicators.intervals import max_gap
from gateway.indicators.registry import register


@register
class EnergyUsed(Indicator):
    """kWh used in the window: increases of the total import counter (see counter_delta)."""

    name = "energy.kwh"
    category = "energy"
    unit = "kWh"
    requires = ("energy.total_kwh",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        # A three-phase workshop supply above 2 MW is not a small manufacturer: a jump that
        # fast is a bad reading, not energy.
        kwh, flags = counter_delta(ctx.series["energy.total_kwh"], max_rate_per_s=2000.0 / 3600.0)
        return [self.value(ctx, round(kwh, 6), flags)]


@register
class AveragePower(Indicator):
    name = "energy.avg_kw"
    category = "energy"
    unit = "kW"
    requires = ("energy.power_kw",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        spans = time_weighted(ctx.series["energy.power_kw"], ctx.start, ctx.end, max_gap(ctx))
        secs = sum(s for _, s in spans)
        if secs <= 0:
            return [self.value(ctx, None, ["no_data"])]
        return [self.value(ctx, round(sum(v * s for v, s in spans) / secs, 6), [], covered_s=round(secs, 3))]


@register
class PeakPower(Indicator):
    name = "energy.peak_kw"
    category = "energy"
    unit = "kW"
    requires = ("energy.power_kw",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        vals = [v for _, v in ctx.series["energy.power_kw"].good()]
        return [self.value(ctx, round(max(vals), 6) if vals else None, [] if vals else ["no_data"])]
