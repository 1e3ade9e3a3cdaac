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
    frame, opened and closed, one detection per large-enough contour.

    Counting products on day one with no trained model: anything that moves across
    the line and is bigger than ``min_area`` (share of the frame) counts as one unit.
    Touching objects merge into one blob, which is the method's known limit.
    """

    name = "motion"
    labels = ("object",)

    def __init__(self, width: int = 320, min_area: float = 0.004, history: int = 300,
                 var_threshold: float = 25.0) -> None:
        import cv2

        self.width = width
        self.min_area = min_area
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
        mask = self._sub.apply(small)
        _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel, iterations=2)
        min_px = self.min_area * mask.size
        dets = []
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            if cv2.contourArea(c) < min_px:
                continue
            x, y, cw, ch = cv2.boundingRect(c)
            dets.append(Detection(box=(x / scale, y / scale, (x + cw) / scale, (y + ch) / scale),
                                  score=1.0, label="object"))
        self.runs += 1
        self.seconds += time.perf_counter() - t0
        return dets


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
