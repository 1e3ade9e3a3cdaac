"""Counter deltas shared by every cumulative indicator (energy, water, cycles, vision counts).

``counter_window`` is what the indicators use: the increase between two readings is spread
over the time between them and split at window boundaries, so a counter read hourly (or
irregularly over a bad link) books each increase to the window it happened in, and a jump
after a gap is spread over the gap, flagged, never a spike. ``counter_delta`` (sum of the
increases of the readings inside one window) remains for callers that have no window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.indicators.base import Series, WindowContext


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


# A silence longer than this many poll intervals is a gap: the increase across it is still
# spread over it (never a spike in one window) but flagged ``gap_interpolated`` and not counted
# as observed time. Overridable per device with ``params.counter_gap_polls``.
DEFAULT_GAP_POLLS = 3.0
# Counters whose windows are at least this share observed carry no ``partial_coverage`` flag.
FULL_COVERAGE = 0.9
# A register jump after a silence up to this long is spread over the silence; across a longer
# one it is not claimed at all (``gap_too_long``). Per device: ``params.counter_max_spread_s``.
DEFAULT_MAX_SPREAD_S = 2 * 86400.0


@dataclass(frozen=True)
class CounterWindow:
    """A counter's increase apportioned to one window.

    ``value`` is None when no interval between two readings overlaps the window, or none that
    overlaps it could be counted (a reset, an implausible jump, a too-long gap): not observed,
    never 0. ``coverage`` is the share of the window spanned by ordinary intervals
    (readings at most ``gap_s`` apart); ``interpolated_s`` the seconds of it spanned by gaps,
    whose increase is spread linearly but is an estimate of *when* it happened.
    """

    value: float | None
    flags: list[str]
    coverage: float
    interpolated_s: float
    # The stretches of the window whose increase was counted (ordinary or interpolated), merged:
    # a ratio with another signal (kWh per on-hour) compares the two over the same time.
    spans: tuple[tuple[float, float], ...] = ()

    def detail(self) -> dict[str, float]:
        d = {"coverage": round(self.coverage, 4)}
        if self.interpolated_s:
            d["interpolated_s"] = round(self.interpolated_s, 3)
        return d


def counter_window(series: Series, start: float, end: float, gap_s: float, max_rate_per_s: float | None = None,
                   reset_counts_from_zero: bool = False, max_span_s: float = DEFAULT_MAX_SPREAD_S) -> CounterWindow:
    """The increase of a cumulative counter inside [start, end), apportioned by time.

    Each pair of consecutive usable readings (from the last one before the window to the
    first one at or after its end) spreads its increase linearly over the interval it spans,
    and the window takes the share that overlaps it. With hourly snapshots at :00, the
    increase between 17:00 and 18:00 is the 17:00 window's, wholly. A pair further apart than
    ``gap_s`` (readings missed) is spread the same way over the gap and flagged
    ``gap_interpolated``; its time is not counted in ``coverage``.

    Wrap, reset and implausible jumps are judged per pair as in :func:`counter_delta`: a
    decrease is a rollover (``rollover`` declared and previous value in its upper half) or
    a reset (that interval claims nothing, unless ``reset_counts_from_zero``, and counts as
    unobserved); a rate above ``max_rate_per_s`` claims nothing and counts as unobserved.
    A pair further apart than ``max_span_s`` claims nothing (``gap_too_long``): across days of
    silence the increase cannot be placed in time at all. Flags are those of the pairs
    overlapping the window only.
    """
    pts = [(t, v) for t, v in series.usable() if start <= t < end]
    if series.before is not None and series.before[0] < (pts[0][0] if pts else end):
        pts.insert(0, series.before)
    if series.after is not None and series.after[0] >= end:
        pts.append(series.after)
    total = observed = interpolated = 0.0
    spans: list[tuple[float, float]] = []
    touched = False
    flags: list[str] = []

    def flag(f: str) -> None:
        if f not in flags:
            flags.append(f)

    for (t1, v1), (t2, v2) in zip(pts, pts[1:], strict=False):
        span = t2 - t1
        overlap = min(t2, end) - max(t1, start)
        if span <= 0 or overlap <= 0:
            continue
        touched = True
        if span > max_span_s:
            flag("gap_too_long")
            continue
        d = v2 - v1
        if d < 0:
            if series.rollover and v1 > series.rollover / 2:
                d = series.rollover - v1 + v2
                flag("rollover")
            else:
                flag("counter_reset")
                if not reset_counts_from_zero:
                    continue
                d = v2
        if max_rate_per_s is not None and d / span > max_rate_per_s:
            flag("implausible_jump")
            continue
        total += d * overlap / span
        if span > gap_s:
            interpolated += overlap
            flag("gap_interpolated")
        else:
            observed += overlap
        a, b = max(t1, start), min(t2, end)
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    length = end - start
    coverage = min(1.0, observed / length) if length > 0 else 0.0
    if not touched:
        return CounterWindow(None, ["no_data"], 0.0, 0.0)
    if observed + interpolated <= 0:  # only resets, implausible jumps or too-long gaps: nothing known
        return CounterWindow(None, [*flags, "no_data"], 0.0, 0.0)
    if coverage < FULL_COVERAGE:
        flag("partial_coverage")
    return CounterWindow(round(total, 6), flags, coverage, interpolated, tuple(spans))


def gap_seconds(series: Series, params: dict[str, Any], fallback_poll_s: float) -> float:
    """How long a silence may be before it counts as a gap (``params.counter_gap_polls`` polls)."""
    polls = float(params.get("counter_gap_polls", DEFAULT_GAP_POLLS))
    return polls * (series.poll_s or fallback_poll_s)


def window_counter(ctx: WindowContext, series: Series, max_rate_per_s: float | None = None,
                   reset_counts_from_zero: bool = False) -> CounterWindow:
    """:func:`counter_window` over the context's window, with the device's gap threshold."""
    poll = min((d.poll_interval_s for d in ctx.devices if d.poll_interval_s > 0), default=ctx.length)
    return counter_window(series, ctx.start, ctx.end, gap_seconds(series, ctx.params, poll), max_rate_per_s,
                          reset_counts_from_zero, max_spread_s(ctx.params))


def max_spread_s(params: dict[str, Any]) -> float:
    return float(params.get("counter_max_spread_s", DEFAULT_MAX_SPREAD_S))
