"""Machine production indicators: cycles (mould-open counts), runtime, availability against
the declared shift calendar."""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.counters import window_counter
from gateway.indicators.intervals import max_gap, observed, state_intervals, total
from gateway.indicators.machine import DEFAULT_ON_THRESHOLD_KW
from gateway.indicators.registry import register
from gateway.indicators.shifts import overlap, planned_intervals, shifts_of

# An injection press cycles in 10 s or more, a stamping press at most a few strokes a second:
# a counter moving faster than this is a bad reading (or a reset to a random value).
DEFAULT_MAX_CYCLES_PER_S = 10.0


@register
class Cycles(Indicator):
    """Machine cycles (mould opens, strokes) in the window from the cumulative cycle counter."""

    name = "machine.cycles"
    category = "machine"
    unit = "count"
    version = 2  # v2: apportioned by time, null when unobserved, coverage in detail
    requires = ("machine.cycles",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        rate = float(ctx.params.get("max_cycles_per_s", DEFAULT_MAX_CYCLES_PER_S))
        c = window_counter(ctx, ctx.series["machine.cycles"], max_rate_per_s=rate)
        # Parts per cycle (mould cavities), when the profile gives them: the receiver's
        # cycles_vs_mes rule compares cycles x cavities with the MES output.
        cavities = ctx.params.get("cavities")
        detail = {"cavities": int(cavities)} if cavities else {}
        return [self.value(ctx, c.value, c.flags, **detail, **c.detail())]


def running_intervals(ctx: WindowContext) -> tuple[list[tuple[float, float]], list[tuple[float, float]], str]:
    """When the machine ran: its own running signal if it has one, else power above its
    ``on_threshold_kw``. Returns (running, observed, source)."""
    if "machine.running" in ctx.series:
        on, seen = state_intervals(ctx.series["machine.running"], ctx.start, ctx.end, max_gap(ctx),
                                   lambda v: v >= 0.5)
        return on, seen, "machine.running"
    threshold = float(ctx.params.get("on_threshold_kw", DEFAULT_ON_THRESHOLD_KW))
    on, seen = state_intervals(ctx.series["energy.power_kw"], ctx.start, ctx.end, max_gap(ctx),
                               lambda v: v > threshold)
    return on, seen, "energy.power_kw"


@register
class Runtime(Indicator):
    """Minutes the machine's own running signal (PLC bit, current relay) was on."""

    name = "machine.runtime_min"
    category = "machine"
    unit = "min"
    version = 2  # v2: null (no_data) when the signal was not observed; coverage in detail
    requires = ("machine.running",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        """Running minutes within the observed time; unobserved minutes are not "stopped"."""
        on, seen, _ = running_intervals(ctx)
        if total(seen) <= 0:
            return [self.value(ctx, None, ["no_data"], observed_min=0.0, coverage=0.0)]
        flags, detail = observed(total(seen), ctx.length)
        return [self.value(ctx, round(total(on) / 60, 4), flags, observed_min=round(total(seen) / 60, 4), **detail)]


@register
class Availability(Indicator):
    """Running time inside *observed* planned shift time / observed planned shift time
    ([shifts] in the profile). Planned time with no data is neither available nor not: it is
    left out of both, and the share of planned time observed is the ``coverage``; with none
    observed the value is null (``no_data``), never 0."""

    name = "machine.availability_pct"
    category = "machine"
    unit = "%"
    version = 2  # v2: over observed planned time only; null when none observed; coverage in detail
    requires_any = ("machine.running", "energy.power_kw")

    def applies(self, ctx: WindowContext) -> bool:
        return super().applies(ctx) and shifts_of(ctx.profile) is not None

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        cal = shifts_of(ctx.profile)
        assert cal is not None
        planned = planned_intervals(*cal, ctx.start, ctx.end)
        p = total(planned)
        if p <= 0:
            return [self.value(ctx, None, ["no_planned_time"])]
        on, seen, source = running_intervals(ctx)
        run_planned = overlap(on, planned)
        seen_planned = overlap(seen, planned)
        if seen_planned <= 0:
            return [self.value(ctx, None, ["no_data"], planned_min=round(p / 60, 4), coverage=0.0, source=source)]
        flags, detail = observed(seen_planned, p)
        return [self.value(ctx, round(100 * run_planned / seen_planned, 4), flags, planned_min=round(p / 60, 4),
                           observed_planned_min=round(seen_planned / 60, 4), **detail,
                           run_in_plan_min=round(run_planned / 60, 4),
                           run_outside_plan_min=round((total(on) - run_planned) / 60, 4), source=source)]
