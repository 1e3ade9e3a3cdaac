"""Machine state from power: on when power is above the device's ``on_threshold_kw``."""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.counters import time_weighted
from gateway.indicators.intervals import max_gap, observed
from gateway.indicators.registry import register

DEFAULT_ON_THRESHOLD_KW = 1.0


def on_off_seconds(ctx: WindowContext) -> tuple[float, float]:
    """(seconds on, seconds observed). Time in data gaps is neither on nor off."""
    threshold = float(ctx.params.get("on_threshold_kw", DEFAULT_ON_THRESHOLD_KW))
    spans = time_weighted(ctx.series["energy.power_kw"], ctx.start, ctx.end, max_gap(ctx))
    on = sum(s for v, s in spans if v > threshold)
    return on, sum(s for _, s in spans)


@register
class MachineOnMinutes(Indicator):
    name = "machine.on_minutes"
    category = "machine"
    unit = "min"
    version = 2  # v2: null (no_data) when power was not observed; coverage in detail
    requires = ("energy.power_kw",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        """Minutes on within the *observed* time: minutes with no reading (gateway off, meter
        unreachable) are neither on nor off, and a window with none observed is null."""
        on, seen = on_off_seconds(ctx)
        if seen <= 0:
            return [self.value(ctx, None, ["no_data"], observed_min=0.0, coverage=0.0)]
        flags, detail = observed(seen, ctx.length)
        return [self.value(ctx, round(on / 60, 4), flags, observed_min=round(seen / 60, 4), **detail)]


@register
class Utilisation(Indicator):
    """Share of the *observed* time the machine was on; low coverage is flagged, not hidden."""

    name = "machine.utilisation_pct"
    category = "machine"
    unit = "%"
    version = 2  # v2: coverage in detail
    requires = ("energy.power_kw",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        on, seen = on_off_seconds(ctx)
        if seen <= 0:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        flags, detail = observed(seen, ctx.length)
        return [self.value(ctx, round(100 * on / seen, 4), flags, **detail)]
