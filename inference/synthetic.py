"""Synthetic clips with known ground truth, for self-tests, tests and benchmarks.

Objects (flat-coloured boxes standing in for products, or crops of a real photo of a
person) cross a vertical line at x = width/2, drawn top to bottom, so by the direction
contract left-to-right is ``in`` and right-to-left is ``out``. Nothing is downloaded:
person crops come from images passed in by the caller (e.g. scikit-image's astronaut).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Crossing:
    start: int  # first frame the object is visible
    frames: int  # frames it takes to cross the whole width
    y: int  # top of the object
    direction: str  # "in" (left to right) | "out"
    sprite: int = 0  # index into the sprites


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A static, textured scene (a plain grey frame would make background subtraction trivial)."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    bg = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    bg = cv2.GaussianBlur(bg, (0, 0), 3)
    ramp = np.linspace(60, 140, width, dtype=np.float32)[None, :, None]
    return np.clip(bg.astype(np.float32) * 0.4 + ramp, 0, 255).astype(np.uint8)


def product_sprites() -> list[np.ndarray]:
    """Boxes/bags of a few colours and sizes, with a label stripe, like goods on a belt."""
    sprites = []
    for (w, h), colour in zip([(90, 70), (70, 90), (110, 60)], [(30, 30, 200), (40, 170, 40), (200, 120, 20)],
                              strict=True):
        s = np.zeros((h, w, 3), np.uint8)
        s[:] = colour
        s[h // 3: h // 3 + 10, :] = 240
        sprites.append(s)
    return sprites


def person_sprites(images_rgb: list[np.ndarray], size: int = 220) -> list[np.ndarray]:
    """Square BGR crops of real photos of people, scaled to ``size`` px."""
    import cv2

    out = []
    for im in images_rgb:
        if im.ndim == 2:
            im = np.stack([im] * 3, axis=-1)
        h, w = im.shape[:2]
        side = min(h, w)
        crop = im[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    return out


def render(crossings: list[Crossing], sprites: list[np.ndarray], n_frames: int, width: int = 640,
           height: int = 480, noise: float = 2.0, seed: int = 0) -> Any:
    """Yield BGR frames. ``noise``: sensor noise sigma, so a "still" scene is not bit-identical."""
    bg = background(width, height, seed)
    rng = np.random.default_rng(seed + 1)
    for i in range(n_frames):
        frame = bg.copy()
        for c in crossings:
            k = i - c.start
            if not 0 <= k <= c.frames:
                continue
            sp = sprites[c.sprite % len(sprites)]
            sh, sw = sp.shape[:2]
            travel = width + sw
            step = travel * k / c.frames
            x = int(-sw + step) if c.direction == "in" else int(width - step)
            x1, x2 = max(0, x), min(width, x + sw)
            y1, y2 = max(0, c.y), min(height, c.y + sh)
            if x1 < x2 and y1 < y2:
                frame[y1:y2, x1:x2] = sp[y1 - c.y:y2 - c.y, x1 - x:x2 - x]
        if noise > 0:
            frame = np.clip(frame.astype(np.int16) + rng.normal(0, noise, frame.shape).astype(np.int16),
                            0, 255).astype(np.uint8)
        yield frame


def write_video(path: str | Path, frames: Any, fps: float = 10.0, size: tuple[int, int] = (640, 480)) -> Path:
    """Write frames as MJPG .avi (robust to read back with any OpenCV build) or mp4v .mp4."""
    import cv2

    path = Path(path)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
    vw = cv2.VideoWriter(str(path), fourcc, fps, size)
    if not vw.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write this container")
    try:
        for f in frames:
            vw.write(f)
    finally:
        vw.release()
    return path


def truth(crossings: list[Crossing]) -> dict[str, int]:
    return {d: sum(c.direction == d for c in crossings) for d in ("in", "out")}
