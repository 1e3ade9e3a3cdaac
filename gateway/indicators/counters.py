"""Counter deltas shared by every cumulative indicator (energy, water, cycles, vision counts)."""

from __future__ import annotations

from gateway.indicators.base import Series


def counter_delta(series: Series, max_rate_per_s: float | None = None,
                  reset_counts_from_zero: bool = False) -> tuple[float, list[str]]:
    """Sum of increases of a cumulative counter over the window, robust to wrap and reset.

    Pairs of consecutive usable readings (starting from the last one before the window)
    contribute their difference. A decrease is a rollover when the counter declares a
    wrap value and the previous reading was in its upper half (contributes wrap - prev +
    cur); otherwise it is a meter reset or replacement: that interval contributes nothing
    (we never claim energy we cannot prove) and the value is flagged ``counter_reset``.
    A jump faster than ``max_rate_per_s`` is flagged ``implausible_jump`` and not counted.
    ``reset_counts_from_zero`` is for counters we know restart at 0 (our own vision
    pipeline's counts after a restart): then the new value itself is counted.
    """
    pts = series.usable()
    if series.before is not None:
        pts = [series.before, *pts]
    total = 0.0
    flags: list[str] = []
    for (t1, v1), (t2, v2) in zip(pts, pts[1:], strict=False):
        d = v2 - v1
        if d < 0:
            if series.rollover and v1 > series.rollover / 2:
                d = series.rollover - v1 + v2
                if "rollover" not in flags:
                    flags.append("rollover")
            else:
                if "counter_reset" not in flags:
                    flags.append("counter_reset")
                if not reset_counts_from_zero:
                    continue
                d = v2
        if max_rate_per_s is not None and t2 > t1 and d / (t2 - t1) > max_rate_per_s:
            if "implausible_jump" not in flags:
                flags.append("implausible_jump")
            continue
        total += d
    if len(pts) < 2:
        flags.append("no_data")
    return total, flags


def time_weighted(series: Series, start: float, end: float, max_gap_s: float) -> list[tuple[float, float]]:
    """(value, seconds) spans: each usable reading holds until the next one, at most max_gap_s.
    Spans across a gap longer than that are unknown time, not attributed to any value."""
    pts = [(t, v) for t, v in series.usable() if start <= t < end]
    spans: list[tuple[float, float]] = []
    for i, (t, v) in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else end
        spans.append((v, max(0.0, min(nxt, t + max_gap_s, end) - t)))
    return spans
