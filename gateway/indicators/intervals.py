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
