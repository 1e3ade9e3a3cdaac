"""Weight steps that mean something: held level changes, told apart from transients and drift.

A platform scale under a pledged stack sees much that is not a change of the goods: its own
reading noise, slow drift (temperature, creep), and loads that come and go (a forklift
resting on the stack for minutes, a person, a pallet set down and lifted again). A step
counts only when:

- the reading leaves the settled level by more than the **threshold**, which is the larger
  of ``step_sigma`` x the scale's own noise (a robust spread of its steady signal, learned
  from the readings themselves) and ``step_pct`` of the pledged weight (and never less than
  an explicit ``min_step_kg`` when the profile gives one), and
- the new level then **holds** for ``hold_s`` (within the threshold).

A departure that comes back to the old level before ``hold_s`` is a **transient** (count and
largest excursion are reported, never a step). A change slower than the threshold per
``block_s`` is followed by the settled level: that is drift, and whether the stack is still
all there is the drift-against-pledge indicator's question, not this one's.

Readings are reduced to the median of each ``block_s`` block (aligned on the epoch, so any
window of readings gives the same blocks) before the level logic runs.
Pure functions, stdlib only: they run on the gateway.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

# Consistent 1.4826 x MAD is a standard deviation for Gaussian noise; first differences of two
# independent readings have sqrt(2) times the spread of one.
_MAD_TO_SD = 1.4826 / math.sqrt(2.0)


@dataclass(frozen=True)
class StepParams:
    hold_s: float = 3600.0
    step_sigma: float = 8.0
    step_pct: float = 1.0
    min_step_kg: float | None = None
    block_s: float = 60.0


@dataclass(frozen=True)
class Step:
    """A held change: left the old level at ``t``, held the new one until ``confirmed``."""

    t: float
    confirmed: float
    kg: float


@dataclass(frozen=True)
class Transient:
    """A load that came and went: left at ``t``, back at ``back``; ``max_kg`` is the largest
    excursion from the settled level (signed)."""

    t: float
    back: float
    max_kg: float


def noise_sd(points: list[tuple[float, float]]) -> float:
    """One reading's noise, from the median absolute first difference of consecutive readings:
    steps, transients and drift are rare among differences, so they do not inflate it."""
    if len(points) < 3:
        return 0.0
    diffs = [abs(b[1] - a[1]) for a, b in zip(points, points[1:], strict=False)]
    return statistics.median(diffs) * _MAD_TO_SD


def threshold_kg(sd: float, pledged_kg: float, p: StepParams) -> float:
    return max(p.step_sigma * sd, p.step_pct / 100.0 * pledged_kg, p.min_step_kg or 0.0)


def blocks(points: list[tuple[float, float]], block_s: float) -> list[tuple[float, float]]:
    """(end time of the block's last reading, median) per epoch-aligned block."""
    out: list[tuple[float, float]] = []
    cur: list[float] = []
    key = None
    last_t = 0.0
    for t, v in points:
        k = math.floor(t / block_s)
        if key is not None and k != key:
            out.append((last_t, statistics.median(cur)))
            cur = []
        key, last_t = k, t
        cur.append(v)
    if cur:
        out.append((last_t, statistics.median(cur)))
    return out


def settled_level(values: list[float], threshold: float) -> float:
    """The level most of ``values`` agree on (within ``threshold``; ties: the earliest), as their
    median. Not the median of all: with sparse readings, or right after a gap, the first hold
    may straddle a step, and the median of two levels is neither (it made a matched 300 kg move
    an unmatched 150 kg step in bench/detection.py, honest seeds 1042 and 1048)."""
    best = max(range(len(values)), key=lambda i: (sum(abs(v - values[i]) <= threshold for v in values), -i))
    return statistics.median(v for v in values if abs(v - values[best]) <= threshold)


def detect(points: list[tuple[float, float]], threshold: float, p: StepParams
           ) -> tuple[list[Step], list[Transient], float | None]:
    """Held steps and transients in ``points`` (oldest first); also the settled level at the end
    (None while a departure is still undecided or without readings)."""
    steps: list[Step] = []
    transients: list[Transient] = []
    bl = blocks(points, p.block_s)
    if not bl:
        return steps, transients, None
    # The starting level is the median of the first hold time, not the first reading: a load
    # resting on the stack when the readings start must not become the level.
    first = settled_level([m for t, m in bl if t < bl[0][0] + p.hold_s], threshold)
    recent = deque([first], maxlen=5)  # the last settled blocks: their median is the level
    away: tuple[float, float, float, float] | None = None  # left at, old level, since, peak
    held: list[float] = []  # blocks at the candidate new level, since ``since``
    for t, m in bl:
        if away is None:
            level = statistics.median(recent)
            if abs(m - level) <= threshold:
                recent.append(m)  # drift and noise: the settled level follows
            else:
                away, held = (t, level, t, m - level), [m]
            continue
        left, ref, since, peak = away
        if abs(m - ref) > abs(peak):
            peak = m - ref
        if abs(m - ref) <= threshold:
            transients.append(Transient(left, t, peak))
            away = None
            recent.clear()
            recent.append(m)
            continue
        if abs(m - statistics.median(held)) > threshold:
            since, held = t, []  # still moving: the hold starts again
        held.append(m)
        if t - since >= p.hold_s:
            new = statistics.median(held)
            steps.append(Step(left, t, new - ref))
            away = None
            recent.clear()
            recent.extend(held[-5:])
        else:
            away = (left, ref, since, peak)
    return steps, transients, (statistics.median(recent) if away is None else None)


def lookback_s(p: StepParams) -> float:
    """How far before a window the detector must start so that a window's events do not depend
    on where the reading started: the starting level is the median of the first hold time, and
    anything undecided then is decided within the next. Three holds, not two: a step confirmed
    early in the window may have left its old level almost two holds before (a load resting on
    the stack right after it restarts the hold), and with sparse readings (every 15 min) a first
    hold that reaches into the step would take the median of both levels as the start, turning a
    matched 300 kg move into an unmatched 150 kg step (found by bench/detection.py, honest seed 1042)."""
    return 3 * p.hold_s + 2 * p.block_s
