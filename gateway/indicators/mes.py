"""MES indicators from the ``production`` dataset: output per product (tokenised), good vs
scrap, planned vs run time, quality rate. Plain sums over the rows dated in the window,
which the store adds up in SQL (``totals``): a month of a dense export is one scan, not
270,000 rows in memory."""

from __future__ import annotations

from gateway.indicators.base import IndicatorValue, WindowContext
from gateway.indicators.enterprise import EnterpriseIndicator, per_subject, totals
from gateway.indicators.registry import register

# Every figure the MES indicators add up: one query per window serves all of them.
SUMMED = ("good_qty", "scrap_qty", "planned_min", "run_min")


class _Mes(EnterpriseIndicator):
    category = "mes"
    dataset = "production"
    reads_history = False  # sums of the rows dated in the window


def _sum(ctx: WindowContext, field: str) -> tuple[float, int]:
    """(total of ``field``, rows) over the window's production rows."""
    n, sums = totals(ctx, "production", SUMMED).get(None, (0, {}))
    return sums.get(field, 0.0), n


@register
class ProducedPerProduct(_Mes):
    """Good plus scrap units per product token; subject ``product:<token>``."""

    name = "mes.produced_qty"
    unit = "count"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        per = {f"product:{p}": sums["good_qty"] + sums["scrap_qty"]
               for p, (_, sums) in totals(ctx, "production", ("good_qty", "scrap_qty"), by="product").items()}
        return per_subject(self, ctx, per, "product:")


@register
class GoodQty(_Mes):
    name = "mes.good_qty"
    unit = "count"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        total, n = _sum(ctx, "good_qty")
        return [self.value(ctx, round(total, 6), [] if n else ["no_rows"])]


@register
class ScrapQty(_Mes):
    name = "mes.scrap_qty"
    unit = "count"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        total, n = _sum(ctx, "scrap_qty")
        return [self.value(ctx, round(total, 6), [] if n else ["no_rows"])]


@register
class QualityRate(_Mes):
    """good / (good + scrap), the Q of OEE."""

    name = "mes.quality_rate_pct"
    unit = "%"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        good, _ = _sum(ctx, "good_qty")
        scrap, _ = _sum(ctx, "scrap_qty")
        if good + scrap <= 0:
            return [self.value(ctx, None, ["no_output"])]
        return [self.value(ctx, round(100 * good / (good + scrap), 4))]


@register
class PlannedMinutes(_Mes):
    name = "mes.planned_min"
    unit = "min"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        total, n = _sum(ctx, "planned_min")
        return [self.value(ctx, round(total, 4), [] if n else ["no_rows"])]


@register
class RunMinutes(_Mes):
    """Run time the MES reports: the bank compares it with machine-on minutes from power."""

    name = "mes.run_min"
    unit = "min"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        total, n = _sum(ctx, "run_min")
        return [self.value(ctx, round(total, 4), [] if n else ["no_rows"])]


@register
class RunVsPlanned(_Mes):
    name = "mes.run_vs_planned_pct"
    unit = "%"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        planned, _ = _sum(ctx, "planned_min")
        run, _ = _sum(ctx, "run_min")
        if planned <= 0:
            return [self.value(ctx, None, ["no_plan"])]
        return [self.value(ctx, round(100 * run / planned, 4))]
