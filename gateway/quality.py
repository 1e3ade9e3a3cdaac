"""Quality flags on every reading: good, stale, comm_error, out_of_range.

A reading outside its plausibility range is stored flagged out_of_range (never
dropped); a value that has not changed for longer than the point's ``stuck_after_s``
is flagged stale, so a frozen sensor cannot pass as a steady process. NaN and infinities
(a float register holding 0x7FC00000, a meter's "no value" marker) are out_of_range.
"""

from __future__ import annotations

import math

from drivers.support.base import Quality
from gateway.profile.schema import PointDef


class PointQuality:
    __slots__ = ("lo", "hi", "stuck_after", "_last_value", "_since")

    def __init__(self, point: PointDef, override: list[float] | None = None) -> None:
        rng = override or point.range
        self.lo, self.hi = (rng[0], rng[1]) if rng else (None, None)
        self.stuck_after = point.stuck_after_s
        self._last_value: float | None = None
        self._since = 0.0

    def classify(self, ts: float, value: float) -> str:
        if (not math.isfinite(value) or (self.lo is not None and value < self.lo)
                or (self.hi is not None and value > self.hi)):
            return Quality.OUT_OF_RANGE
        if self.stuck_after is not None:
            if value != self._last_value:
                self._last_value, self._since = value, ts
            elif ts - self._since > self.stuck_after:
                return Quality.STALE
        return Quality.GOOD
