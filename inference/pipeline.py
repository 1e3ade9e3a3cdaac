"""Frames in, counts out: motion gate -> detector (whole frame or motion crops) ->
tracker -> line counters, zones, activity, safety.

``Pipeline`` is synchronous and deterministic (it runs on the timestamps it is given),
which is what the CLI and the tests drive. ``inference.runner.VisionRunner`` wraps it
in a background thread with a camera, reconnect and backoff, for the gateway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from inference.counters import Activity, Crossing, LineCounter, SafetyMonitor, Zone, people_present
from inference.errors import CorruptFrame
from inference.geometry import Box, Point
from inference.tracker import Tracker

PERSON_MODELS = frozenset({"person"})


@dataclass
class LineSpec:
    name: str
    line: Box  # pixels; values all within 0..1 are taken as fractions of the frame
    labels: frozenset[str] | None = None


@dataclass
class ZoneSpec:
    name: str
    polygon: list[Point]  # pixels, or fractions of the frame as for lines
    kind: str = "presence"  # presence | danger


@dataclass
class PipelineConfig:
    """What one camera counts. ``model`` feeds the line counters ("motion" needs no model);
    ``people_model`` feeds presence and safety (defaults to ``model`` when that detects
    people). ``refresh_s``: with no motion the detector still runs this often, so a
    person standing still stays counted as present."""

    model: str = "motion"
    people_model: str | None = None
    threads: int = 2
    lines: list[LineSpec] = field(default_factory=list)
    zones: list[ZoneSpec] = field(default_factory=list)
    motion_gate: bool = True
    crops: str = "auto"  # auto | never
    refresh_s: float = 3.0
    active_hold_s: float = 60.0
    min_hits: int = 2
    max_missed: int = 5
    line_margin: float = 4.0


@dataclass
class Stats:
    frames: int = 0
    detector_runs: int = 0
    corrupt_frames: int = 0
    crops_runs: int = 0
    seconds: float = 0.0


def _scale(points: list[float], w: int, h: int) -> list[float]:
    if all(0.0 <= v <= 1.0 for v in points):
        return [v * (w if i % 2 == 0 else h) for i, v in enumerate(points)]
    return list(points)


def _load_detector(name: str, threads: int) -> Any:
    if name == "motion":
        from inference.motion import BlobDetector

        return BlobDetector()
    from inference.detector import Detector

    return Detector(name, threads=threads)


class Pipeline:
    def __init__(self, config: PipelineConfig) -> None:
        from inference.motion import MotionGate

        self.config = config
        self.detector = _load_detector(config.model, config.threads)
        people = config.people_model
        if people is None and self.detector.name in PERSON_MODELS:
            people = config.model
        self.people_detector = None if people is None or people == config.model \
            else _load_detector(people, config.threads)
        self.has_people = people is not None
        # People are whatever the people model detects ("person", or "face" for a face model).
        source = self.people_detector or self.detector
        self.people_labels = frozenset(source.labels) if self.has_people else frozenset()
        self.gate = MotionGate() if config.motion_gate else None
        self.tracker = Tracker(min_hits=config.min_hits, max_missed=config.max_missed)
        self.people_tracker = Tracker(min_hits=config.min_hits, max_missed=config.max_missed) \
            if self.people_detector is not None else self.tracker
        self.lines: list[LineCounter] = []
        self.zones: list[Zone] = []
        self._size: tuple[int, int] | None = None
        self.activity = Activity(config.active_hold_s)
        self.safety = SafetyMonitor([])
        self.stats = Stats()
        self.people_now = 0
        self.line_active = False
        self.crossings: list[Crossing] = []
        self._last_run: float | None = None

    def _layout(self, w: int, h: int) -> None:
        """Lines and zones are resolved against the first frame's size (fractions allowed)."""
        if self._size == (w, h):
            return
        old = {c.name: c.counts for c in self.lines}
        self.lines = []
        for spec in self.config.lines:
            x1, y1, x2, y2 = _scale(list(spec.line), w, h)
            lc = LineCounter(spec.name, (x1, y1, x2, y2), margin=self.config.line_margin, labels=spec.labels,
                             min_hits=self.config.min_hits)
            if spec.name in old:
                lc.counts = old[spec.name]
            self.lines.append(lc)
        self.zones = []
        for z in self.config.zones:
            flat = _scale([c for p in z.polygon for c in p], w, h)
            self.zones.append(Zone(z.name, list(zip(flat[0::2], flat[1::2], strict=True)), z.kind))
        events = self.safety.events
        self.safety = SafetyMonitor(self.zones, self.people_labels)
        self.safety.events = events
        self._size = (w, h)

    def _detect(self, detector: Any, frame: Any, motion_boxes: list[Box], tracks: list[Any]) -> list[Any]:
        if self.config.crops == "never" or detector.name == "motion" or not motion_boxes:
            return detector.detect(frame)
        from inference.motion import crop_regions

        h, w = frame.shape[:2]
        boxes = list(motion_boxes) + [t.box for t in tracks]
        regions = crop_regions(boxes, w, h, min_side=float(max(detector.input_size)))
        if regions is None or not regions:
            return detector.detect(frame)
        self.stats.crops_runs += 1
        return detector.detect_regions(frame, regions)

    def process(self, image: Any, ts: float) -> list[Crossing]:
        """One frame at media/wall time ``ts`` (seconds). A corrupt frame is counted and
        skipped (CorruptFrame is not raised); returns the line crossings it produced."""
        from inference.preprocess import as_bgr

        t0 = time.perf_counter()
        self.stats.frames += 1
        try:
            frame = as_bgr(image)
        except CorruptFrame:
            self.stats.corrupt_frames += 1
            return []
        h, w = frame.shape[:2]
        self._layout(w, h)
        run = True
        motion_boxes: list[Box] = []
        if self.gate is not None:
            m = self.gate.update(frame)
            motion_boxes = m.boxes
            due = self._last_run is None or ts - self._last_run >= self.config.refresh_s
            run = m.moving or due
            if not m.moving:
                motion_boxes = []
        crossings: list[Crossing] = []
        if run:
            self._last_run = ts
            self.stats.detector_runs += 1
            # A refresh on a still scene sees the whole frame: what it misses has left.
            weight = 1 if motion_boxes or self.gate is None else self.config.max_missed // 2 + 1
            dets = self._detect(self.detector, frame, motion_boxes, self.tracker.tracks)
            self.tracker.update(dets, ts, weight)
            for lc in self.lines:
                crossings.extend(lc.update(self.tracker.tracks, ts))
            if self.people_detector is not None:
                pd = self._detect(self.people_detector, frame, motion_boxes, self.people_tracker.tracks)
                self.people_tracker.update(pd, ts, weight)
        self.line_active = self.activity.update(crossings, ts)
        confirmed = self.people_tracker.confirmed() if self.has_people else []
        self.people_now = people_present(confirmed, self.zones, self.people_labels)
        self.safety.update(confirmed, self.line_active, ts)
        self.crossings.extend(crossings)
        del self.crossings[:-1000]
        self.stats.seconds += time.perf_counter() - t0
        return crossings

    def reset_tracking(self) -> None:
        """After a reconnect the scene may have changed: forget tracks and the motion
        background, keep every counter."""
        self.tracker.tracks.clear()
        self.people_tracker.tracks.clear()
        for lc in self.lines:
            lc._state.clear()
        if self.gate is not None:
            self.gate.reset()
        self._last_run = None

    def snapshot(self) -> dict[str, Any]:
        """Cumulative counters and current gauges: what leaves this module (numbers only)."""
        lines = {c.name: dict(c.counts) for c in self.lines} or \
            {s.name: {"in": 0, "out": 0} for s in self.config.lines}
        return {
            "lines": lines,
            "in": sum(v["in"] for v in lines.values()),
            "out": sum(v["out"] for v in lines.values()),
            "people_present": self.people_now if self.has_people else None,
            "line_active": int(self.line_active),
            "active_seconds": round(self.activity.active_s, 3),
            "safety_events": self.safety.events,
            "frames": self.stats.frames,
            "detector_runs": self.stats.detector_runs,
            "crop_runs": self.stats.crops_runs,
            "corrupt_frames": self.stats.corrupt_frames,
            "processing_s": round(self.stats.seconds, 3),
        }
