"""Frame -> model input tensor, and model coordinates -> frame pixels.

Letterboxing (pad to a square, keep the aspect ratio) is what MediaPipe's detectors
were trained with; squeezing a 16:9 frame would make people thinner than the model has
ever seen. The transform is kept so boxes map back to exact frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.declaration import InputSpec
from inference.errors import N_
from inference.geometry import Box, Detection
from inference.runtime import TensorInfo

_INT_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-32768, 32767)}


@dataclass(frozen=True)
class Transform:
    """Maps normalised model-input coordinates back to frame pixels."""

    x0: float
    y0: float
    sx: float  # frame pixels per unit of normalised input x
    sy: float

    def box(self, b: Box) -> Box:
        return (self.x0 + b[0] * self.sx, self.y0 + b[1] * self.sy,
                self.x0 + b[2] * self.sx, self.y0 + b[3] * self.sy)

    def detection(self, d: Detection) -> Detection:
        return Detection(self.box(d.box), d.score, d.label,
                         [(self.x0 + x * self.sx, self.y0 + y * self.sy) for x, y in d.keypoints])


def as_bgr(frame: Any) -> np.ndarray:
    """Accept grey, BGR or BGRA uint8 frames; anything else is a corrupt frame."""
    import cv2

    from inference.errors import CorruptFrame

    if not isinstance(frame, np.ndarray) or frame.size == 0:
        raise CorruptFrame(N_("empty or missing frame"))
    if frame.dtype != np.uint8:
        raise CorruptFrame(N_("frame dtype {dtype}, expected uint8"), dtype=frame.dtype)
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    raise CorruptFrame(N_("frame shape {shape}, expected HxW, HxWx3 or HxWx4"), shape=frame.shape)


def prepare(frame_bgr: np.ndarray, region: Box | None, spec: InputSpec, tensor: TensorInfo
            ) -> tuple[np.ndarray, Transform]:
    """Crop (optional), letterbox or stretch, colour-convert and scale to the input tensor."""
    import cv2

    h_in, w_in = tensor.shape[1], tensor.shape[2]
    fh, fw = frame_bgr.shape[:2]
    if region is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in region)
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(fw, x2), min(fh, y2)
        img = frame_bgr[y1:y2, x1:x2]
        ox, oy = float(x1), float(y1)
    else:
        img = frame_bgr
        ox, oy = 0.0, 0.0
    h, w = img.shape[:2]
    if spec.resize == "letterbox":
        side = max(h, w)
        px, py = (side - w) // 2, (side - h) // 2
        if px or py:
            img = cv2.copyMakeBorder(img, py, side - h - py, px, side - w - px, cv2.BORDER_CONSTANT, value=0)
        tf = Transform(ox - px, oy - py, float(side), float(side))
    else:
        tf = Transform(ox, oy, float(w), float(h))
    interp = cv2.INTER_AREA if img.shape[0] > h_in else cv2.INTER_LINEAR
    img = cv2.resize(img, (w_in, h_in), interpolation=interp)
    if spec.color == "rgb":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if tensor.shape[3] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY if spec.color == "rgb" else cv2.COLOR_BGR2GRAY)[..., None]
    lo, hi = spec.range
    if tensor.dtype == "uint8" and not tensor.quantized and (lo, hi) == (0.0, 255.0):
        return img[None].astype(np.uint8), tf
    real = img.astype(np.float32) * ((hi - lo) / 255.0) + lo
    if tensor.dtype.startswith("float"):
        return real[None].astype(tensor.dtype), tf
    q = np.round(real / tensor.scale + tensor.zero_point) if tensor.quantized else np.round(real)
    lo_i, hi_i = _INT_RANGES.get(tensor.dtype, (0, 255))
    return np.clip(q, lo_i, hi_i)[None].astype(tensor.dtype), tf
