"""Data quality besides coverage: failed polls per device per window, the gateway's loss
counters and its clock-sync state, so the bank can tell "no data" from "nothing happened"."""

from __future__ import annotations

from gateway.clock import clock_state
from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.registry import register

GATEWAY_SUBJECT = "gateway"


@register
class PollsFailed(Indicator):
    name = "data.polls_failed"
    category = "data_quality"
    unit = "count"

    def applies(self, ctx: WindowContext) -> bool:
        return bool(ctx.devices)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        return [self.value(ctx, float(d.error_polls), [], subject=d.name) for d in ctx.devices]


@register
class LossCounters(Indicator):
    """Cumulative loss counters (polls failed, readings purged before use, batches dropped).
    One value per window for the whole gateway (subject ``gateway``): the store keeps one
    row per window, whichever asset computes it first."""

    name = "data.loss_total"
    category = "data_quality"
    unit = "count"

    def applies(self, ctx: WindowContext) -> bool:
        return bool(ctx.devices) and ctx.store is not None

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        losses = ctx.store.loss_counters()
        return [self.value(ctx, float(sum(losses.values())), [], subject=GATEWAY_SUBJECT, **losses)]


@register
class ClockSynced(Indicator):
    """1 when the kernel says the clock is NTP-synchronised, sampled when the window is
    computed (flag ``sampled_at_compute``: for a window computed late, after an outage, it
    is the state then, not during the window)."""

    name = "data.clock_synced"
    category = "data_quality"
    unit = "bool"

    def applies(self, ctx: WindowContext) -> bool:
        return bool(ctx.devices)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        st = clock_state()
        flags = ["sampled_at_compute"]
        if st.get("implausible"):
            flags.append("clock_implausible")
        detail = {k: v for k, v in st.items() if k in ("source", "maxerror_ms")}
        return [self.value(ctx, 1.0 if st.get("synced") else 0.0, flags, subject=GATEWAY_SUBJECT, **detail)]
