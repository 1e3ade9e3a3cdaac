"""Boxes, detections and the few geometric tests the counters need.

Pure Python/numpy so counters and trackers run (and are tested) without OpenCV.
Coordinates are image pixels: x to the right, y *down*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # x1, y1, x2, y2
Point = tuple[float, float]


@dataclass
class Detection:
    """One object in one frame, in pixel coordinates of the full frame."""

    box: Box
    score: float
    label: str = "object"
    keypoints: list[Point] = field(default_factory=list)

    @property
    def centre(self) -> Point:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0

    def rounded(self) -> list[int]:
        return [int(round(v)) for v in self.box]


def area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def nms(dets: Sequence[Detection], iou_threshold: float, per_label: bool = True) -> list[Detection]:
    """Greedy non-maximum suppression, highest score first, per label unless told otherwise."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: d.score, reverse=True):
        if all((per_label and k.label != d.label) or iou(k.box, d.box) <= iou_threshold for k in kept):
            kept.append(d)
    return kept


def clip_box(b: Box, width: float, height: float) -> Box:
    return (min(max(b[0], 0.0), width), min(max(b[1], 0.0), height),
            min(max(b[2], 0.0), width), min(max(b[3], 0.0), height))


def side(line: Box, p: Point) -> float:
    """s = (x2-x1)(y-y1) - (y2-y1)(x-x1): the direction contract's sign test (see counters)."""
    x1, y1, x2, y2 = line
    return (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1)


def segments_intersect(p: Point, q: Point, line: Box, margin: float = 0.0) -> bool:
    """Does the move p->q cross the segment ``line`` (extended by ``margin`` px at each end)?"""
    x1, y1, x2, y2 = line
    dx, dy = x2 - x1, y2 - y1
    length = (dx * dx + dy * dy) ** 0.5
    if length == 0:
        return False
    ux, uy = dx / length, dy / length
    a = (x1 - ux * margin, y1 - uy * margin)
    b = (x2 + ux * margin, y2 + uy * margin)
    rx, ry = q[0] - p[0], q[1] - p[1]
    sx, sy = b[0] - a[0], b[1] - a[1]
    denom = rx * sy - ry * sx
    if denom == 0:
        return False
    t = ((a[0] - p[0]) * sy - (a[1] - p[1]) * sx) / denom
    u = ((a[0] - p[0]) * ry - (a[1] - p[1]) * rx) / denom
    return 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0


def point_in_polygon(p: Point, polygon: Sequence[Point]) -> bool:
    """Ray casting; points on an edge may go either way, which is fine for occupancy."""
    x, y = p
    inside = False
    n = len(polygon)
    for i in range(n):
        xa, ya = polygon[i]
        xb, yb = polygon[(i + 1) % n]
        if (ya > y) != (yb > y):
            xc = xa + (y - ya) * (xb - xa) / (yb - ya)
            if x < xc:
                inside = not inside
    return inside
