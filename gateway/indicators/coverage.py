"""Data coverage per device: good polls received against polls expected in the window."""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.registry import register


@register
class Coverage(Indicator):
    name = "data.coverage_pct"
    category = "data_quality"
    unit = "%"

    def applies(self, ctx: WindowContext) -> bool:
        return bool(ctx.devices)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        out = []
        for d in ctx.devices:
            pct = 100.0 * min(1.0, d.good_polls / d.expected_polls) if d.expected_polls else 0.0
            out.append(self.value(ctx, round(pct, 3), [] if pct >= 90 else ["low_coverage"], subject=d.name,
                                  expected=d.expected_polls, received=d.good_polls, failed=d.error_polls))
        return out
