"""Data quality of the enterprise's exports: what each connector read and rejected per day.

A bank reading MES/ERP figures should know when they rest on an export with rejected
lines or on a correction: this says so per connector (subject ``connector:<name>``) for
the local day the imports ran, without the lines themselves (they stay on site)."""

from __future__ import annotations

from gateway.indicators.base import IndicatorValue, WindowContext
from gateway.indicators.enterprise import DAY, EnterpriseIndicator
from gateway.indicators.registry import register


@register
class ImportQuarantine(EnterpriseIndicator):
    """Rows quarantined by the imports made in the window; detail: rows accepted, changed
    and removed by corrections."""

    name = "data.erp_rows_quarantined"
    category = "data_quality"
    unit = "count"
    periods = (DAY,)

    def applies(self, ctx: WindowContext) -> bool:
        return super().applies(ctx) and ctx.store is not None

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        with ctx.store._lock:
            got = ctx.store.db.execute(
                "SELECT connector, SUM(rows_quarantined), SUM(rows_ok), SUM(changed), SUM(removed), COUNT(*) "
                "FROM erp_imports WHERE at>=? AND at<? GROUP BY connector ORDER BY connector",
                (ctx.start, ctx.end)).fetchall()
        return [self.value(ctx, float(q or 0), ["rows_quarantined"] if q else [], subject=f"connector:{c}",
                           rows_ok=int(ok or 0), changed=int(ch or 0), removed=int(rm or 0), imports=int(n))
                for c, q, ok, ch, rm, n in got]
