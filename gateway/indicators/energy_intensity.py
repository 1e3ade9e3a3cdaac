"""Energy intensity: kWh per machine-on hour and per cycle (ISO 50006-style EnPIs).

A bank compares these with the enterprise's own history: output claimed with no matching
energy, or energy with no output, moves the ratio."""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.counters import counter_delta
from gateway.indicators.machine import on_off_seconds
from gateway.indicators.production import DEFAULT_MAX_CYCLES_PER_S
from gateway.indicators.registry import register

MAX_KW = 2000.0  # same plausibility bound as energy.kwh
MIN_ON_S = 60.0  # below a minute on, a per-hour ratio is noise


def _kwh(ctx: WindowContext) -> tuple[float, list[str]]:
    return counter_delta(ctx.series["energy.total_kwh"], max_rate_per_s=MAX_KW / 3600.0)


@register
class KwhPerOnHour(Indicator):
    name = "energy.kwh_per_on_hour"
    category = "energy"
    unit = "kWh/h"
    requires = ("energy.total_kwh", "energy.power_kw")

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        kwh, flags = _kwh(ctx)
        on, _ = on_off_seconds(ctx)
        if on < MIN_ON_S:
            return [self.value(ctx, None, [*flags, "machine_off"], kwh=round(kwh, 6))]
        return [self.value(ctx, round(kwh / (on / 3600), 6), flags, on_min=round(on / 60, 4))]


@register
class KwhPerCycle(Indicator):
    name = "energy.kwh_per_cycle"
    category = "energy"
    unit = "kWh/cycle"
    requires = ("energy.total_kwh", "machine.cycles")

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        kwh, f1 = _kwh(ctx)
        rate = float(ctx.params.get("max_cycles_per_s", DEFAULT_MAX_CYCLES_PER_S))
        cycles, f2 = counter_delta(ctx.series["machine.cycles"], max_rate_per_s=rate)
        flags = list(dict.fromkeys([*f1, *f2]))
        if cycles <= 0:
            return [self.value(ctx, None, [*flags, "no_cycles"])]
        return [self.value(ctx, round(kwh / cycles, 6), flags, cycles=round(cycles, 6))]
