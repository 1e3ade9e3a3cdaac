"""Line crossings with direction, zone occupancy, line activity and safety events.

Direction contract (shared with the gateway's indicators): for a line (x1,y1)->(x2,y2)
and an object's reference point (x, y) -- the box centre -- in image coordinates
(y grows *down*)::

    s = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)

a crossing from s > 0 to s < 0 is ``in``, from s < 0 to s > 0 is ``out``. So for a line
drawn top to bottom, moving left to right is ``in``; for a line drawn left to right,
moving up the image is ``in``. To swap directions, draw the line the other way.

A side only changes once the point is more than ``margin`` px from the line
(hysteresis), and the move must pass through the drawn segment (plus ``margin``), so
jitter on the line and objects passing beside its end are not counted.

A crossing counts once it is complete: the centre has gone past the line by half the
object's extent across the line (its largest box while crossing) plus ``margin``, so the
whole object has cleared it. An object that pushes its centre over the line and backs off
before clearing it counts nothing, and neither does a track lost before it cleared (a
background model that has learnt the object's colour loses it exactly when it retraces
its own path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from inference.geometry import Box, Point, point_in_polygon, segments_intersect, side
from inference.tracker import Track


@dataclass
class Crossing:
    line: str
    direction: str  # "in" | "out"
    track_id: int
    label: str
    ts: float


@dataclass
class LineCounter:
    name: str
    line: Box
    margin: float = 4.0
    labels: frozenset[str] | None = None  # count only these labels (None: all)
    min_hits: int = 2  # sides are followed from a track's first sighting; only confirmed tracks count
    counts: dict[str, int] = field(default_factory=lambda: {"in": 0, "out": 0})
    _state: dict[int, tuple[int, Point]] = field(default_factory=dict)  # track -> (side, point there)
    # track -> (direction, label, largest half extent across the line): crossed, not yet clear
    _pending: dict[int, tuple[str, str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.line
        self._len = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        if self._len == 0:
            raise ValueError(f"line {self.name!r} has zero length")

    def update(self, tracks: Sequence[Track], ts: float) -> list[Crossing]:
        """Pass every live track (confirmed or not) after each tracker update."""
        events = []
        live = set()
        for t in tracks:
            if self.labels is not None and t.label not in self.labels:
                continue
            live.add(t.id)
            p = t.centre
            d = side(self.line, p) / self._len  # signed distance in px
            if abs(d) > self.margin:
                sgn = 1 if d > 0 else -1
                prev = self._state.get(t.id)
                if prev is not None and prev[0] != sgn and t.hits < self.min_hits:
                    continue  # keep the old side: the crossing counts once the track is confirmed
                self._state[t.id] = (sgn, p)
                if prev is not None and prev[0] != sgn:
                    if t.id in self._pending:
                        del self._pending[t.id]  # back where it came from before clearing: nothing
                    elif segments_intersect(prev[1], p, self.line, self.margin):
                        self._pending[t.id] = ("in" if prev[0] > 0 else "out", t.label, 0.0)
            if t.id in self._pending:
                direction, label, half = self._pending[t.id]
                half = max(half, self._half_extent(t.box))
                self._pending[t.id] = (direction, label, half)
                if abs(d) > half + self.margin and (d < 0) == (direction == "in"):
                    events.append(self._count(t.id, ts))
        for tid in list(self._state):
            if tid not in live:
                self._pending.pop(tid, None)  # lost before it cleared the line: not a crossing
                del self._state[tid]
        return events

    def _half_extent(self, box: Box) -> float:
        """Half the box's extent across the line (along the line's normal)."""
        x1, y1, x2, y2 = self.line
        nx, ny = (y2 - y1) / self._len, (x2 - x1) / self._len
        return (abs(nx) * (box[2] - box[0]) + abs(ny) * (box[3] - box[1])) / 2.0

    def _count(self, tid: int, ts: float) -> Crossing:
        direction, label, _ = self._pending.pop(tid)
        self.counts[direction] += 1
        return Crossing(self.name, direction, tid, label, ts)


@dataclass
class Zone:
    """A polygon in frame pixels. ``kind`` is ``presence`` (people counted as present)
    or ``danger`` (a person inside while a line is active is a safety event)."""

    name: str
    polygon: list[Point]
    kind: str = "presence"
    anchor: str = "bottom"  # reference point: "bottom" (feet) or "centre"

    def contains(self, t: Track) -> bool:
        # A box clipped at the frame's bottom edge has its feet exactly on a zone drawn to
        # the edge; one pixel up keeps it inside instead of on the boundary.
        x, y = t.bottom if self.anchor == "bottom" else t.centre
        return point_in_polygon((x, y - 1.0 if self.anchor == "bottom" else y), self.polygon)


class Activity:
    """A line is active while objects move through it: for ``hold_s`` after each crossing.
    ``active_s`` integrates active time over processed timestamps (gaps capped at ``max_gap_s``,
    so an outage is not counted as activity)."""

    def __init__(self, hold_s: float = 60.0, max_gap_s: float = 10.0) -> None:
        self.hold_s = hold_s
        self.max_gap_s = max_gap_s
        self.last_crossing: float | None = None
        self.active_s = 0.0
        self._last_ts: float | None = None

    def active(self, ts: float) -> bool:
        return self.last_crossing is not None and ts - self.last_crossing <= self.hold_s

    def update(self, crossings: Sequence[Crossing], ts: float) -> bool:
        if self._last_ts is not None and self.last_crossing is not None:
            a = max(self._last_ts, self.last_crossing)
            b = min(ts, self.last_crossing + self.hold_s, self._last_ts + self.max_gap_s)
            self.active_s += max(0.0, b - a)
        if crossings:
            self.last_crossing = ts
        self._last_ts = ts
        return self.active(ts)


class SafetyMonitor:
    """Counts one event each time a person enters a danger zone while the line is active
    (or is inside when the line becomes active). Staying inside is one event, not one per
    frame; a person must have been outside for ``rearm_s`` before a new entry counts, so
    a box jittering on the zone's edge is not a string of events."""

    def __init__(self, zones: Sequence[Zone], labels: frozenset[str] = frozenset({"person"}),
                 rearm_s: float = 3.0) -> None:
        self.zones = [z for z in zones if z.kind == "danger"]
        self.labels = labels
        self.rearm_s = rearm_s
        self.events = 0
        self._flagged: dict[tuple[int, str], float] = {}  # (track, zone) -> last ts seen inside

    def update(self, tracks: Sequence[Track], line_active: bool, ts: float = 0.0) -> list[tuple[str, int]]:
        new = []
        inside: set[tuple[int, str]] = set()
        for t in tracks:
            if t.label not in self.labels:
                continue
            for z in self.zones:
                if z.contains(t):
                    inside.add((t.id, z.name))
        for key in sorted(inside):
            if key in self._flagged:
                self._flagged[key] = ts
            elif line_active:
                self.events += 1
                new.append((key[1], key[0]))
                self._flagged[key] = ts
        for key, seen in list(self._flagged.items()):
            if key not in inside and ts - seen >= self.rearm_s:
                del self._flagged[key]
        return new


def people_present(tracks: Sequence[Track], zones: Sequence[Zone],
                   labels: frozenset[str] = frozenset({"person"})) -> int:
    """People in any presence zone, or in the whole frame when no presence zone is drawn."""
    presence = [z for z in zones if z.kind == "presence"]
    people = [t for t in tracks if t.label in labels]
    if not presence:
        return len(people)
    return sum(1 for t in people if any(z.contains(t) for z in presence))
