"""A small IoU/centroid tracker with constant-velocity prediction.

Counting needs identity across frames, not a state-of-the-art re-identifier: objects
on a line or through a door move steadily and rarely cross each other. Greedy matching
on IoU (against the position predicted from the last velocity), then on centre
distance for small or fast objects whose boxes no longer overlap between detector
runs, is cheap enough for a Pi and dependency-free (norfair pins numpy<2).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from inference.geometry import Box, Detection, Point, iou


@dataclass
class Track:
    id: int
    box: Box
    label: str
    score: float
    first_ts: float
    last_ts: float
    hits: int = 1
    misses: int = 0
    velocity: Point = (0.0, 0.0)  # px per second of the box centre
    trail: list[Point] = field(default_factory=list)

    @property
    def centre(self) -> Point:
        return (self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0

    @property
    def bottom(self) -> Point:
        return (self.box[0] + self.box[2]) / 2.0, self.box[3]

    def predicted(self, ts: float) -> Box:
        dt = max(0.0, ts - self.last_ts)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        return (self.box[0] + dx, self.box[1] + dy, self.box[2] + dx, self.box[3] + dy)


class Tracker:
    """``update(detections, ts)`` after every detector run; returns live confirmed tracks.

    ``min_hits``: detections before a track is confirmed (one-frame flicker is ignored);
    ``max_missed``: detector runs without a match before a track is dropped;
    ``max_distance``: centre-distance fallback, in multiples of the object's size.
    """

    def __init__(self, iou_threshold: float = 0.2, max_distance: float = 2.5, min_hits: int = 2,
                 max_missed: int = 5, trail: int = 32) -> None:
        self.iou_threshold = iou_threshold
        self.max_distance = max_distance
        self.min_hits = min_hits
        self.max_missed = max_missed
        self.trail_len = trail
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if t.hits >= self.min_hits]

    def update(self, detections: list[Detection], ts: float, miss_weight: int = 1) -> list[Track]:
        """``miss_weight`` > 1 ages unmatched tracks faster: used for a refresh run on a still
        scene, where a missing object has really gone (it left while the gate was quiet)."""
        pairs: list[tuple[float, int, int]] = []
        for ti, t in enumerate(self.tracks):
            pb = t.predicted(ts)
            pc = ((pb[0] + pb[2]) / 2, (pb[1] + pb[3]) / 2)
            size = max(pb[2] - pb[0], pb[3] - pb[1], 1.0)
            for di, d in enumerate(detections):
                if d.label != t.label:
                    continue
                o = iou(pb, d.box)
                if o >= self.iou_threshold:
                    pairs.append((1.0 + o, ti, di))
                    continue
                dc = d.centre
                dsize = max(d.box[2] - d.box[0], d.box[3] - d.box[1], 1.0)
                dist = ((dc[0] - pc[0]) ** 2 + (dc[1] - pc[1]) ** 2) ** 0.5
                limit = self.max_distance * max(size, dsize)
                if dist <= limit:
                    pairs.append((1.0 - dist / limit, ti, di))
        pairs.sort(reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            t, d = self.tracks[ti], detections[di]
            old = t.centre
            dt = ts - t.last_ts
            t.box, t.score, t.hits, t.misses = d.box, d.score, t.hits + 1, 0
            new = t.centre
            if dt > 0:
                v = ((new[0] - old[0]) / dt, (new[1] - old[1]) / dt)
                t.velocity = (0.5 * t.velocity[0] + 0.5 * v[0], 0.5 * t.velocity[1] + 0.5 * v[1]) \
                    if t.hits > 2 else v
            t.last_ts = ts
            t.trail.append(new)
            del t.trail[:-self.trail_len]
        survivors = []
        for ti, t in enumerate(self.tracks):
            if ti not in used_t:
                t.misses += miss_weight
                if t.misses > self.max_missed:
                    continue
            survivors.append(t)
        for di, d in enumerate(detections):
            if di not in used_d:
                survivors.append(Track(id=next(self._ids), box=d.box, label=d.label, score=d.score,
                                       first_ts=ts, last_ts=ts, trail=[d.centre]))
        self.tracks = survivors
        return self.confirmed()
