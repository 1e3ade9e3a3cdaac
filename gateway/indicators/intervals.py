"""Time intervals from sampled gauges, for indicators that need *when*, not only how long
(availability intersects running time with planned shifts)."""

from __future__ import annotations

from collections.abc import Callable

from gateway.indicators.base import Series, WindowContext


def max_gap(ctx: WindowContext, factor: float = 3.0) -> float:
    """A reading holds at most this long: beyond it the time is unknown (a data gap)."""
    return factor * max((d.poll_interval_s for d in ctx.devices), default=60.0)


def state_intervals(series: Series, start: float, end: float, gap: float, pred: Callable[[float], bool]
                    ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(intervals where pred(value) held, intervals observed at all), each merged and sorted.
    Same holding rule as counters.time_weighted: a reading holds until the next one, at most ``gap``."""
    pts = [(t, v) for t, v in series.usable() if start <= t < end]
    on: list[tuple[float, float]] = []
    seen: list[tuple[float, float]] = []
    for i, (t, v) in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else end
        b = min(nxt, t + gap, end)
        if b <= t:
            continue
        _add(seen, t, b)
        if pred(v):
            _add(on, t, b)
    return on, seen


def _add(xs: list[tuple[float, float]], a: float, b: float) -> None:
    if xs and a <= xs[-1][1]:
        xs[-1] = (xs[-1][0], max(xs[-1][1], b))
    else:
        xs.append((a, b))


def total(xs: list[tuple[float, float]]) -> float:
    return sum(b - a for a, b in xs)


FULL_COVERAGE = 0.9  # a window observed at least this much carries no ``partial_coverage`` flag


def observed(seen_s: float, length: float, flags: list[str] | None = None) -> tuple[list[str], dict[str, float]]:
    """Quality flags and detail for a value computed over ``seen_s`` observed seconds of a
    window: ``coverage`` (0..1) always, and ``partial_coverage`` below :data:`FULL_COVERAGE`.
    Callers return a null ``no_data`` value instead when nothing was observed."""
    cov = min(1.0, seen_s / length) if length > 0 else 0.0
    out = list(flags or [])
    if cov < FULL_COVERAGE:
        out.append("partial_coverage")
    return out, {"coverage": round(cov, 4)}
