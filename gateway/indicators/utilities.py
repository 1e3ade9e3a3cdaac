"""Water and gas volume per window, from cumulative meter totals (pulse or Modbus)."""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.counters import window_counter
from gateway.indicators.registry import register

# A DN50 water main carries ~30 m3/h; 0.05 m3/s is far above any small plant's use of either.
MAX_M3_PER_S = 0.05


class _Volume(Indicator):
    unit = "m3"
    meaning = ""
    version = 2  # v2: apportioned by time, null when unobserved, coverage in detail

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        c = window_counter(ctx, ctx.series[self.meaning], max_rate_per_s=MAX_M3_PER_S)
        return [self.value(ctx, c.value, c.flags, **c.detail())]


@register
class WaterVolume(_Volume):
    name = "water.m3"
    category = "water"
    meaning = "water.total_m3"
    requires = ("water.total_m3",)


@register
class GasVolume(_Volume):
    name = "gas.m3"
    category = "gas"
    meaning = "gas.total_m3"
    requires = ("gas.total_m3",)
