"""The pipeline in a background thread with a camera that may come and go.

The gateway's scheduler is asyncio and must never block on a camera, so capture and
inference run in one daemon thread; the driver only reads a snapshot under a lock.
A source that fails to open or stops delivering frames is retried with exponential
backoff (``backoff_initial_s`` doubling to ``backoff_max_s``), counted and reported
(``camera_up`` = 0, ``last_error``); counters survive reconnects because they live in
the pipeline, not the source.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from inference.errors import CorruptFrame, SourceError
from inference.pipeline import Pipeline, PipelineConfig
from inference.sources import open_source, redact

log = logging.getLogger("edgeproof.vision")


class VisionRunner:
    """``start()`` loads the models synchronously (so a bad model fails the caller, with the
    file named) and then captures in a thread. ``fps`` caps processing: live cameras are
    sampled, files are paced to it (``realtime``) or read flat out (``realtime=False``)."""

    def __init__(self, uri: str, config: PipelineConfig, fps: float = 5.0, loop: bool = False,
                 realtime: bool = True, backoff_initial_s: float = 0.5, backoff_max_s: float = 30.0,
                 evidence: Any = None) -> None:
        self.uri = str(uri)
        self.config = config
        self.fps = fps
        self.loop = loop
        self.realtime = realtime
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.evidence = evidence
        self.pipeline: Pipeline | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.camera_up = False
        self.finished = False
        self.reconnects = 0
        self.failures = 0
        self.processing_errors = 0
        self.last_error: str | None = None
        self.up_seconds = 0.0
        self.started_at: float | None = None
        self._up_since: float | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self.pipeline = Pipeline(self.config)
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"vision:{redact(self.uri)}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_up(False)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_finished(self, timeout: float) -> bool:
        """For files without loop: block until the end of the file (tests, CLI)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- state -----------------------------------------------------------------------
    def _set_up(self, up: bool, error: str | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            if up and not self.camera_up:
                self._up_since = now
            if not up and self.camera_up and self._up_since is not None:
                self.up_seconds += now - self._up_since
                self._up_since = None
            self.camera_up = up
            if error is not None:
                self.last_error = error
                self.failures += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            snap = self.pipeline.snapshot() if self.pipeline is not None else {}
            up_s = self.up_seconds + (time.monotonic() - self._up_since if self._up_since else 0.0)
            snap.update(camera_up=int(self.camera_up), reconnects=self.reconnects, failures=self.failures,
                        processing_errors=self.processing_errors,
                        last_error=self.last_error, finished=self.finished, camera_up_seconds=round(up_s, 3))
        return snap

    # -- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        backoff = self.backoff_initial_s
        offset = 0.0  # keeps media time increasing across file loops
        first = True
        while not self._stop.is_set():
            if not first:
                self.reconnects += 1
            first = False
            src = open_source(self.uri, fps=self.fps)
            try:
                src.open()
            except SourceError as exc:
                self._down(str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            try:
                ended, last_ts = self._pump(src, offset)
                backoff = self.backoff_initial_s
                if ended:
                    if not self.loop:
                        with self._lock:
                            self.finished = True
                        self._set_up(False)
                        return
                    offset = last_ts + 1.0 / max(self.fps, 1e-3)
            except SourceError as exc:
                self._down(str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
            except Exception as exc:  # never let one bad frame kill the camera thread silently
                log.exception("vision pipeline error on %s", redact(self.uri))
                self._down(f"{type(exc).__name__}: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
            finally:
                src.close()
        self._set_up(False)

    def _down(self, message: str) -> None:
        log.warning("camera %s down: %s", redact(self.uri), message)
        self._set_up(False, message)
        assert self.pipeline is not None
        with self._lock:
            self.pipeline.reset_tracking()

    def _pump(self, src: Any, offset: float) -> tuple[bool, float]:
        """Read until the end of the source (True) or stop (False); SourceError propagates."""
        assert self.pipeline is not None
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        last_processed: float | None = None
        last_ts = offset
        t_start = time.monotonic()
        media_start: float | None = None
        while not self._stop.is_set():
            try:
                frame = src.read()
            except CorruptFrame as exc:
                with self._lock:
                    self.pipeline.stats.frames += 1
                    self.pipeline.stats.corrupt_frames += 1
                    self.last_error = str(exc)
                continue
            if frame is None:
                return True, last_ts
            if not self.camera_up:
                self._set_up(True)
            ts = frame.ts if src.live else frame.ts + offset
            if src.live:
                if last_processed is not None and ts - last_processed < period * 0.95:
                    continue  # sample a 30 fps camera down to the processing rate
            elif self.realtime and period > 0:
                if media_start is None:
                    media_start = frame.ts
                if last_processed is not None and ts - last_processed < period * 0.95:
                    continue
                delay = (frame.ts - media_start) - (time.monotonic() - t_start)
                if delay > 0 and self._stop.wait(delay):
                    break
            last_processed = ts
            last_ts = ts
            with self._lock:
                before = self.pipeline.safety.events
                try:
                    self.pipeline.process(frame.image, ts)
                except Exception as exc:  # one frame that breaks a library call is skipped, not fatal
                    log.exception("vision: frame %d of %s failed", frame.index, redact(self.uri))
                    self.processing_errors += 1
                    self.last_error = f"frame {frame.index}: {type(exc).__name__}: {exc}"
                    continue
                new_events = self.pipeline.safety.events - before
            if self.evidence is not None:
                self.evidence.add_frame(frame.image, ts, events=new_events)
        return False, last_ts
