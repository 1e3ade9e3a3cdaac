"""What a real platform scale under a pledged stack reads over weeks: the stack, plus what an
honest warehouse and an honest load cell add to it, plus what a diversion takes away.

The honest part is what made the first collateral rules cry wolf:

- reading noise (``noise_kg``, one reading's standard deviation);
- slow drift of zero and span (temperature, creep): a random walk of ``drift_pct_day`` per
  day (standard deviation of one day's step, in % of the stack), interpolated smoothly;
- the daily temperature swing (``diurnal_pct`` amplitude, peak in the afternoon);
- transients: a forklift resting on the stack, a person, a pallet set down and lifted
  again; each ``(start, seconds, kg)``.

Removals are ``(time, kg)`` steps that stay. The weight at a time is a pure function of the
time and the seed, so any window can be re-read identically (the indicator engine's
look-back reads readings twice). Stdlib only: the HX711 twin, the replay scenario
generator and the tests all use it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

DAY = 86400.0


@dataclass(frozen=True)
class LoadCellSignal:
    pledged_kg: float = 100_000.0
    noise_kg: float = 20.0
    drift_pct_day: float = 0.05
    diurnal_pct: float = 0.02
    start: float = 0.0
    days: int = 90
    seed: int = 1
    transients: tuple[tuple[float, float, float], ...] = ()
    removals: tuple[tuple[float, float], ...] = ()
    _walk: list[float] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        walk = [0.0]
        for _ in range(self.days + 1):
            walk.append(walk[-1] + rng.gauss(0.0, self.drift_pct_day / 100.0 * self.pledged_kg))
        self._walk.extend(walk)

    def drift_kg(self, t: float) -> float:
        """Slow drift at ``t``: the random walk (linear between days) plus the daily swing."""
        d = max(0.0, (t - self.start) / DAY)
        i = min(int(d), len(self._walk) - 2)
        walk = self._walk[i] + (self._walk[i + 1] - self._walk[i]) * min(1.0, d - i)
        swing = self.diurnal_pct / 100.0 * self.pledged_kg * math.sin(2 * math.pi * ((t % DAY) / DAY - 0.375))
        return walk + swing

    def true_kg(self, t: float) -> float:
        """The goods on the platform (pledge minus removals so far), without sensor effects."""
        return self.pledged_kg - sum(kg for at, kg in self.removals if at <= t)

    def load_kg(self, t: float) -> float:
        """Transient loads resting on the stack at ``t``."""
        return sum(kg for at, dur, kg in self.transients if at <= t < at + dur)

    def reading(self, t: float, rng: random.Random) -> float:
        """One scale reading at ``t``: goods + transient loads + drift + noise."""
        return self.true_kg(t) + self.load_kg(t) + self.drift_kg(t) + rng.gauss(0.0, self.noise_kg)

    def readings(self, start: float, end: float, every_s: float) -> list[tuple[float, float]]:
        """Readings every ``every_s`` in [start, end); the noise is seeded by the start, so the same
        span reads the same."""
        rng = random.Random(hash((self.seed, round(start))))
        n = int(math.ceil((end - start) / every_s))
        return [(start + i * every_s, self.reading(start + i * every_s, rng)) for i in range(n)]


def honest_transients(start: float, days: int, seed: int = 1, per_day: float = 1.5, forklift_kg: float = 3000.0,
                      person_kg: float = 80.0) -> tuple[tuple[float, float, float], ...]:
    """Forklifts resting on the stack for 2-20 minutes (``per_day`` on average, working hours)
    and a person climbing on it now and then (1-5 minutes)."""
    rng = random.Random(seed * 7919 + 1)
    out: list[tuple[float, float, float]] = []
    for d in range(days):
        day0 = start + d * DAY
        for _ in range(_poisson(rng, per_day)):
            at = day0 + rng.uniform(7, 19) * 3600
            out.append((at, rng.uniform(120, 1200), forklift_kg * rng.uniform(0.8, 1.1)))
        if rng.random() < 0.5:
            out.append((day0 + rng.uniform(8, 18) * 3600, rng.uniform(60, 300), person_kg))
    return tuple(sorted(out))


def _poisson(rng: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1
