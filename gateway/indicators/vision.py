"""Vision indicators: what the cameras counted in a window, from the camera driver's points.

Counters (units in/out, safety events) are cumulative in the driver; a window's value
is the increase between consecutive usable readings apportioned to it by time (see
counters.counter_window), from the last reading before the window to the first after it.
A negative delta means the vision pipeline restarted (counters back to 0): the new value
is counted from 0, so a restart loses at most the units between the last reading and the
restart, never adds phantom ones. A window with no reading across it is null (no_data).

Gauges (people present, line active, camera up) are sampled at the poll interval; time
shares hold each reading until the next one, at most two poll intervals, so a gap in
readings counts as unknown (not active, camera not up) rather than as the last value.
"""

from __future__ import annotations

from gateway.indicators.base import Indicator, IndicatorValue, Series, WindowContext
from gateway.indicators.counters import CounterWindow, window_counter
from gateway.indicators.intervals import observed
from gateway.indicators.registry import register


def vision_counter(ctx: WindowContext, series: Series) -> CounterWindow:
    """The shared counter rule; a drop means our pipeline restarted at 0, so it counts from 0."""
    c = window_counter(ctx, series, reset_counts_from_zero=True)
    if series.before is None and c.value is not None:
        return CounterWindow(c.value, ["no_baseline", *c.flags], c.coverage, c.interpolated_s)
    return c


def _interval(ctx: WindowContext, series: Series) -> float:
    polls = [d.poll_interval_s for d in ctx.devices if d.poll_interval_s > 0]
    if polls:
        return min(polls)
    ts = series.ts
    gaps = sorted(b - a for a, b in zip(ts, ts[1:], strict=False) if b > a)
    return gaps[len(gaps) // 2] if gaps else ctx.length


def held_seconds(ctx: WindowContext, series: Series, predicate: float = 0.5) -> tuple[float, float]:
    """(seconds with value >= predicate, seconds covered by any usable reading) in the window."""
    hold = 2.0 * _interval(ctx, series)
    pts = series.usable()
    if series.before is not None:
        pts = [series.before, *pts]
    on = covered = 0.0
    for i, (t, v) in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ctx.end
        a = max(t, ctx.start)
        b = min(nxt, t + hold, ctx.end)
        if b <= a:
            continue
        covered += b - a
        if v >= predicate:
            on += b - a
    return on, covered


def _coverage_quality(ctx: WindowContext, covered: float) -> tuple[list[str], dict[str, float]]:
    """``partial`` (this module's historic flag) and the shared ``partial_coverage`` + coverage."""
    flags, detail = observed(covered, ctx.length)
    return (["partial", *flags] if flags else []), detail


class _CounterIndicator(Indicator):
    category = "vision"
    meaning = ""

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        """One value per counting line: the subject is the asset, or asset/line when a camera
        counts at several lines (point names are '<line>_in', '<line>_out', ...)."""
        per_point = ctx.series_by_point.get(self.meaning) or {"": ctx.series[self.meaning]}
        out = []
        for point, series in sorted(per_point.items()):
            c = vision_counter(ctx, series)
            line = point.rsplit("_", 1)[0] if point else ""
            subject = ctx.asset if len(per_point) == 1 else f"{ctx.asset}/{line}"
            # What the camera counts (params.role: "line" = a production line, "dispatch" = goods
            # leaving the site), so the receiver compares it with the right claim (MES or ERP).
            role = ctx.params.get("role")
            out.append(self.value(ctx, c.value, c.flags, subject=subject, **({"role": role} if role else {}),
                                  **c.detail()))
        return out


@register
class UnitsIn(_CounterIndicator):
    name = "vision.units_in"
    unit = "units"
    version = 2  # v2: apportioned by time, null when unobserved, coverage in detail
    meaning = "vision.units_in"
    requires = ("vision.units_in",)


@register
class UnitsOut(_CounterIndicator):
    name = "vision.units_out"
    unit = "units"
    version = 2  # v2: apportioned by time, null when unobserved, coverage in detail
    meaning = "vision.units_out"
    requires = ("vision.units_out",)


@register
class SafetyEvents(_CounterIndicator):
    name = "vision.safety_events"
    unit = "events"
    version = 2  # v2: apportioned by time, null when unobserved, coverage in detail
    meaning = "vision.safety_events"
    requires = ("vision.safety_events",)


class _PeopleIndicator(Indicator):
    """A statistic of the people-present samples in the window."""

    category = "vision"
    unit = "people"
    version = 2  # v2: coverage in detail
    requires = ("vision.people_present",)

    def stat(self, vals: list[float]) -> float:
        raise NotImplementedError

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        series = ctx.series["vision.people_present"]
        vals = [v for t, v in series.usable() if ctx.start <= t < ctx.end]
        if not vals:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        _, covered = held_seconds(ctx, series)
        flags, detail = observed(covered, ctx.length)
        return [self.value(ctx, self.stat(vals), flags, samples=len(vals), **detail)]


@register
class PeopleMean(_PeopleIndicator):
    name = "vision.people_mean"

    def stat(self, vals: list[float]) -> float:
        return round(sum(vals) / len(vals), 3)


@register
class PeopleMax(_PeopleIndicator):
    name = "vision.people_max"

    def stat(self, vals: list[float]) -> float:
        return max(vals)


@register
class LineActiveMinutes(Indicator):
    name = "vision.line_active_min"
    category = "vision"
    unit = "min"
    version = 2  # v2: coverage in detail
    requires = ("vision.line_active",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        series = ctx.series["vision.line_active"]
        on, covered = held_seconds(ctx, series)
        if covered == 0:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        flags, detail = _coverage_quality(ctx, covered)
        return [self.value(ctx, round(on / 60.0, 3), flags, covered_s=round(covered, 1), **detail)]


@register
class CameraUptime(Indicator):
    """Share of the *observed* time the camera delivered frames (``camera_up`` readings of 0).
    Time with no reading at all (gateway or pipeline down) is not observed: it lowers the
    coverage, not the uptime; with none observed the value is null (``no_data``)."""

    name = "vision.camera_uptime_pct"
    category = "vision"
    unit = "%"
    version = 2  # v2: over observed time; null when unobserved; coverage in detail
    requires = ("vision.camera_up",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        on, covered = held_seconds(ctx, ctx.series["vision.camera_up"])
        if covered == 0:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        flags, detail = _coverage_quality(ctx, covered)
        return [self.value(ctx, round(100.0 * on / covered, 2), flags, **detail)]
