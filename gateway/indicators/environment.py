"""Room conditions: min / mean / max, and minutes outside the range declared for the room.

Storage conditions of pledged goods (a cold room, a dry store) are part of the collateral's
value. The range is declared for the room in the profile's ``[collateral] storage = { warehouse =
{ temp_c = [2, 8], rh_pct = [30, 70] } }`` (or per device: ``params.env_range``).
Mean and minutes are time-weighted (a reading holds until the next one, at most three poll
intervals); only good readings count towards min/max, so an out-of-range sensor fault is
not reported as an excursion of the room.
"""

from __future__ import annotations

from typing import Any

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.collateral import storage_range
from gateway.indicators.counters import time_weighted
from gateway.indicators.intervals import max_gap, observed
from gateway.indicators.registry import register

QUANTITIES = (("temp_c", "env.temp_c", "°C"), ("rh_pct", "env.rh_pct", "%RH"), ("pressure_hpa", "env.pressure_hpa",
                                                                               "hPa"))


def env_range(ctx: WindowContext, key: str) -> tuple[float, float] | None:
    """The device's ``params.env_range`` or, for the room, ``[collateral] storage.<asset>``."""
    r = (ctx.params.get("env_range") or {}).get(key)
    if r and len(r) == 2:
        return float(r[0]), float(r[1])
    return storage_range(ctx.profile, ctx.asset, key)


def _make(key: str, meaning: str, unit: str) -> None:
    class _Base(Indicator):
        category = "env"
        version = 2  # v2: coverage in detail; null (no_data) when nothing was observed
        requires = (meaning,)

        def observed_min_max(self, ctx: WindowContext, pick: Any) -> list[IndicatorValue]:
            vals = [v for _, v in ctx.series[meaning].good()]
            if not vals:
                return [self.value(ctx, None, ["no_data"], coverage=0.0)]
            secs = sum(s for _, s in time_weighted(ctx.series[meaning], ctx.start, ctx.end, max_gap(ctx)))
            flags, detail = observed(secs, ctx.length)
            return [self.value(ctx, pick(vals), flags, **detail)]

    @register
    class Min(_Base):
        name = f"env.{key}_min"

        def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
            return self.observed_min_max(ctx, min)

    Min.unit = unit

    @register
    class Max(_Base):
        name = f"env.{key}_max"

        def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
            return self.observed_min_max(ctx, max)

    Max.unit = unit

    @register
    class Mean(_Base):
        name = f"env.{key}_mean"

        def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
            spans = time_weighted(ctx.series[meaning], ctx.start, ctx.end, max_gap(ctx))
            secs = sum(s for _, s in spans)
            if secs <= 0:
                return [self.value(ctx, None, ["no_data"], coverage=0.0)]
            flags, detail = observed(secs, ctx.length)
            return [self.value(ctx, round(sum(v * s for v, s in spans) / secs, 4), flags, **detail)]

    Mean.unit = unit

    @register
    class Outside(_Base):
        """Minutes outside the declared range; time with no data is reported, not assumed in range."""

        name = f"env.{key}_outside_min"
        unit = "min"

        def applies(self, ctx: WindowContext) -> bool:
            return super().applies(ctx) and env_range(ctx, key) is not None

        def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
            lo, hi = env_range(ctx, key) or (float("-inf"), float("inf"))
            spans = time_weighted(ctx.series[meaning], ctx.start, ctx.end, max_gap(ctx))
            secs = sum(s for _, s in spans)
            if secs <= 0:
                return [self.value(ctx, None, ["no_data"], range=[lo, hi], coverage=0.0,
                                   unobserved_min=round(ctx.length / 60, 4))]
            out = sum(s for v, s in spans if v < lo or v > hi)
            flags, detail = observed(secs, ctx.length)
            return [self.value(ctx, round(out / 60, 4), flags, range=[lo, hi],
                               unobserved_min=round((ctx.length - secs) / 60, 4), **detail)]

    for cls in (Min, Max, Mean, Outside):
        cls.__qualname__ = cls.__name__ = f"Env_{key}_{cls.__name__}"


for _k, _m, _u in QUANTITIES:
    _make(_k, _m, _u)
