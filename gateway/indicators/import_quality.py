"""Data quality of the enterprise's exports: what each connector read and rejected per day.

A bank reading MES/ERP figures should know when they rest on an export with rejected
lines or on a correction: this says so per connector (subject ``connector:<name>``) for
the local day the imports ran, without the lines themselves (they stay on site)."""

from __future__ import annotations

from gateway.indicators.base import IndicatorValue, WindowContext
from gateway.indicators.enterprise import DAY, EnterpriseIndicator
from gateway.indicators.registry import register
from gateway.store import erp as erp_store


@register
class ImportQuarantine(EnterpriseIndicator):
    """Rows quarantined by the imports made in the window; detail: rows accepted, changed
    and removed by corrections."""

    name = "data.erp_rows_quarantined"
    category = "data_quality"
    unit = "count"
    periods = (DAY,)
    reads_history = False  # the imports made in the window

    def applies(self, ctx: WindowContext) -> bool:
        return super().applies(ctx) and ctx.store is not None

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        got = erp_store.import_totals(ctx.store, ctx.start, ctx.end)
        return [self.value(ctx, float(q or 0), ["rows_quarantined"] if q else [], subject=f"connector:{c}",
                           rows_ok=int(ok or 0), changed=int(ch or 0), removed=int(rm or 0), imports=int(n))
                for c, q, ok, ch, rm, n in got]
