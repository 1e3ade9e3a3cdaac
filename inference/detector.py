"""A declared TFLite model as a detector: frame in, detections in frame pixels out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference.declaration import ModelDeclaration, resolve
from inference.geometry import Box, Detection, clip_box, nms


class Detector:
    """Load (checksum verified), inspect, and run one model.

    ``threads`` is the interpreter's CPU thread count: 2 suits a Pi 4/5 running the
    rest of the gateway on the other cores.
    """

    def __init__(self, model: str | Path | ModelDeclaration, threads: int = 2) -> None:
        from inference.decoders import make_decoder
        from inference.runtime import TFLiteModel

        self.decl = model if isinstance(model, ModelDeclaration) else resolve(model)
        self.decl.verify()
        self.model = TFLiteModel(self.decl.file, threads=threads)
        self.decoder = make_decoder(self.decl, self.model.input_size, self.model.outputs)
        self.runs = 0
        self.seconds = 0.0

    @property
    def name(self) -> str:
        return self.decl.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.decl.labels

    @property
    def input_size(self) -> tuple[int, int]:
        return self.model.input_size

    def detect(self, frame: Any, region: Box | None = None) -> list[Detection]:
        """Detections on the whole frame (or one crop of it), in frame pixel coordinates.
        ``frame`` is grey/BGR/BGRA uint8 as OpenCV delivers it."""
        from inference.preprocess import as_bgr, prepare

        t0 = time.perf_counter()
        bgr = as_bgr(frame)
        tensor, tf = prepare(bgr, region, self.decl.input, self.model.input)
        outputs = self.model.run(tensor)
        h, w = bgr.shape[:2]
        dets = []
        for d in self.decoder.decode(outputs):
            m = tf.detection(d)
            m.box = clip_box(m.box, w, h)
            if m.box[2] - m.box[0] >= 1 and m.box[3] - m.box[1] >= 1:
                dets.append(m)
        self.runs += 1
        self.seconds += time.perf_counter() - t0
        return dets

    def detect_regions(self, frame: Any, regions: Sequence[Box], nms_iou: float = 0.4) -> list[Detection]:
        """Run on each crop (small, far people stay big enough for the model) and merge."""
        dets: list[Detection] = []
        for r in regions:
            dets.extend(self.detect(frame, r))
        return nms(dets, nms_iou) if len(regions) > 1 else dets
