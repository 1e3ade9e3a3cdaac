"""Cheap motion: the gate that decides whether the detector runs, and blob detection
for counting products/stock with no trained model (``--model motion``).

The gate works on a ~100 px high grey copy of the frame (Frigate's approach): blur,
absolute difference against a running average, threshold, dilate, contours. On a Pi
that costs well under a millisecond, against several to tens of milliseconds for a
detector run, so a still scene costs almost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inference.geometry import Box, Detection


@dataclass
class MotionResult:
    moving: bool
    boxes: list[Box] = field(default_factory=list)  # full-frame pixels
    changed: float = 0.0  # fraction of the downscaled frame that changed


class MotionGate:
    """Frame differencing against a running average on a downscaled grey frame.

    ``threshold`` is the grey-level change that counts (0..255), ``min_area`` the share
    of the small frame a contour must cover (sensor noise and flicker stay below it),
    ``alpha`` how fast the average forgets (a parked pallet stops being motion after
    about 3/alpha frames). A change over ``relight`` of the frame is treated as a light
    switched on or the camera's exposure jumping: the average is reset and the frame is
    reported as motion once, so the detector re-checks the scene.
    """

    def __init__(self, height: int = 100, threshold: int = 25, min_area: float = 0.002,
                 alpha: float = 0.2, relight: float = 0.6) -> None:
        self.height = height
        self.threshold = threshold
        self.min_area = min_area
        self.alpha = alpha
        self.relight = relight
        self._avg: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None

    def _small(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape[:2]
        sw = max(1, int(round(w * self.height / h)))
        small = cv2.resize(grey, (sw, self.height), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (3, 3), 0)

    def reset(self) -> None:
        self._avg = None

    def update(self, frame: np.ndarray) -> MotionResult:
        import cv2

        small = self._small(frame)
        h, w = frame.shape[:2]
        if self._avg is None or self._shape != (h, w):
            self._avg = small.astype(np.float32)
            self._shape = (h, w)
            return MotionResult(moving=False)
        diff = cv2.absdiff(small, cv2.convertScaleAbs(self._avg))
        _, mask = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        mask = cv2.dilate(mask, None, iterations=2)
        changed = float(np.count_nonzero(mask)) / mask.size
        if changed > self.relight:
            self._avg = small.astype(np.float32)
            return MotionResult(moving=True, boxes=[(0.0, 0.0, float(w), float(h))], changed=changed)
        cv2.accumulateWeighted(small, self._avg, self.alpha)
        sx, sy = w / small.shape[1], h / small.shape[0]
        min_px = self.min_area * mask.size
        boxes: list[Box] = []
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            if cv2.contourArea(c) < min_px:
                continue
            x, y, cw, ch = cv2.boundingRect(c)
            boxes.append((x * sx, y * sy, (x + cw) * sx, (y + ch) * sy))
        return MotionResult(moving=bool(boxes), boxes=boxes, changed=changed)


class BlobDetector:
    """Moving blobs as detections: background subtraction (OpenCV MOG2) on a downscaled
    frame, opened and closed, then one detection per *object*:

    * parts of one object with gaps between them (separate cartons on a pallet, boxes on a
      trolley) are separate blobs; blobs whose boxes are less than ``group_gap`` (share of the
      frame width) apart are one object, counted once;
    * two objects touching are one blob; an elongated blob (1.6 times longer than wide) is cut
      across its long axis where the mean colours of the two sides differ by ``seam_delta``
      or more (each side at least ``min_piece`` of the blob), so they count twice. Identical
      objects touching with no visible seam stay one: the method's limit.

    Counting products on day one with no trained model: anything that moves across the line
    and is bigger than ``min_area`` (share of the frame) counts.
    """

    name = "motion"
    labels = ("object",)

    def __init__(self, width: int = 320, min_area: float = 0.004, history: int = 300,
                 var_threshold: float = 25.0, group_gap: float = 0.05, seam_delta: float = 80.0,
                 min_piece: float = 0.25, learning_rate: float = 0.01) -> None:
        import cv2

        # A fixed learning rate: MOG2's default (1 / frames seen, while fewer than ``history``)
        # learns an object's colour within a few frames on a young model (the detector sees only
        # the frames the motion gate passes), so the box shrank to the object's leading part and
        # an object retracing its path vanished.
        self.learning_rate = learning_rate
        self.width = width
        self.min_area = min_area
        self.group_gap = group_gap
        self.seam_delta = seam_delta
        self.min_piece = min_piece
        self._sub = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold,
                                                       detectShadows=False)
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.runs = 0
        self.seconds = 0.0

    def detect(self, frame: np.ndarray, region: Any = None) -> list[Detection]:
        import time

        import cv2

        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        scale = min(1.0, self.width / w)
        small = cv2.resize(frame, (max(1, int(w * scale)), max(1, int(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else frame
        mask = self._sub.apply(small, learningRate=self.learning_rate)
        _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel, iterations=2)
        min_px = self.min_area * mask.size
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        parts = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_px / 8]
        dets = []
        for group in group_parts([_box(stats[i]) for i in parts], self.group_gap * mask.shape[1]):
            members = [parts[g] for g in group]
            if sum(int(stats[i, cv2.CC_STAT_AREA]) for i in members) < min_px:
                continue
            one = _box(stats[members[0]])
            inside = one[0] > 0 and one[1] > 0 and one[2] < mask.shape[1] and one[3] < mask.shape[0]
            # A blob cut by the frame's edge is an object partly in view: never split it.
            pieces = (split_at_seams(small, labels == members[0], one, self.seam_delta, self.min_piece)
                      if len(members) == 1 and inside else None)
            if not pieces:
                bx = [_box(stats[i]) for i in members]
                pieces = [(min(b[0] for b in bx), min(b[1] for b in bx), max(b[2] for b in bx),
                           max(b[3] for b in bx))]
            for x1, y1, x2, y2 in pieces:
                dets.append(Detection(box=(x1 / scale, y1 / scale, x2 / scale, y2 / scale), score=1.0,
                                      label="object"))
        self.runs += 1
        self.seconds += time.perf_counter() - t0
        return dets


def _box(st: Any) -> Box:
    x, y, cw, ch = (float(v) for v in st[:4])
    return (x, y, x + cw, y + ch)


def group_parts(boxes: list[Box], gap: float) -> list[list[int]]:
    """Indexes of boxes that belong together: chains of boxes less than ``gap`` apart (both axes)."""
    groups: list[list[int]] = []
    owner = list(range(len(boxes)))

    def root(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
            dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
            if dx < gap and dy < gap:
                owner[root(j)] = root(i)
    by: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        by.setdefault(root(i), []).append(i)
    groups.extend(by.values())
    return groups


def split_at_seams(image: np.ndarray, mask: np.ndarray, box: Box, delta: float, min_piece: float,
                   aspect: float = 1.6, depth: int = 3) -> list[Box] | None:
    """Boxes of the pieces of one elongated blob (at least ``aspect`` times longer than wide),
    cut across its long axis where the mean colours of the two sides differ most, if by at
    least ``delta`` (sum over B, G, R); pieces are cut again while elongated (``depth``).
    None when there is no such cut.

    Whole sides are compared, not the columns either side of a line: cartons with gaps (one
    blob once the mask is closed) or a label stripe look alike on both sides and stay whole."""
    x1, y1, x2, y2 = (int(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if depth <= 0 or max(w, h) < aspect * max(1, min(w, h)) or max(w, h) < 8:
        return None
    sub = image[y1:y2, x1:x2].astype(np.float32)
    m = mask[y1:y2, x1:x2].astype(np.float32)
    if w < h:  # work along the long axis as columns
        sub, m = sub.transpose(1, 0, 2), m.T
    length = sub.shape[1]
    col_sum = (sub * m[:, :, None]).sum(axis=0)  # per column, B G R sums over the blob
    col_n = m.sum(axis=0)
    cs, cn = np.cumsum(col_sum, axis=0), np.cumsum(col_n)
    lo = max(2, int(min_piece * length))
    best, cut = 0.0, None
    for c in range(lo, length - lo + 1):
        nl, nr = cn[c - 1], cn[-1] - cn[c - 1]
        if nl <= 0 or nr <= 0:
            continue
        diff = float(np.abs(cs[c - 1] / nl - (cs[-1] - cs[c - 1]) / nr).sum())
        if diff > best:
            best, cut = diff, c
    if cut is None or best < delta:
        return None
    if w >= h:
        halves: list[Box] = [(float(x1), float(y1), float(x1 + cut), float(y2)),
                             (float(x1 + cut), float(y1), float(x2), float(y2))]
    else:
        halves = [(float(x1), float(y1), float(x2), float(y1 + cut)),
                  (float(x1), float(y1 + cut), float(x2), float(y2))]
    out: list[Box] = []
    for hb in halves:
        out += split_at_seams(image, mask, hb, delta, min_piece, aspect, depth - 1) or [hb]
    return out


def crop_regions(boxes: list[Box], width: int, height: int, min_side: float, max_regions: int = 4,
                 max_share: float = 0.6, context: float = 1.6) -> list[Box] | None:
    """Square crops around clusters of motion (and tracked objects) for the detector.

    A person 60 px tall in a 1080p frame is ~12 px in a 224 px model input: invisible.
    Cropping a square around the motion keeps them large. Returns None when crops would
    not help (too many, or one would cover most of the frame): then detect on the whole.
    """
    if not boxes:
        return []
    clusters: list[list[float]] = []
    for b in sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True):
        grown = [b[0] - (b[2] - b[0]) * 0.25, b[1] - (b[3] - b[1]) * 0.25,
                 b[2] + (b[2] - b[0]) * 0.25, b[3] + (b[3] - b[1]) * 0.25]
        for c in clusters:
            if grown[0] < c[2] and grown[2] > c[0] and grown[1] < c[3] and grown[3] > c[1]:
                c[0], c[1] = min(c[0], b[0]), min(c[1], b[1])
                c[2], c[3] = max(c[2], b[2]), max(c[3], b[3])
                break
        else:
            clusters.append(list(b))
    if len(clusters) > max_regions:
        return None
    limit = max_share * min(width, height)
    regions: list[Box] = []
    for x1, y1, x2, y2 in clusters:
        side = max(min_side, context * max(x2 - x1, y2 - y1))
        if side > limit:
            return None
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        rx1 = min(max(0.0, cx - side / 2), max(0.0, width - side))
        ry1 = min(max(0.0, cy - side / 2), max(0.0, height - side))
        regions.append((rx1, ry1, min(float(width), rx1 + side), min(float(height), ry1 + side)))
    return regions
