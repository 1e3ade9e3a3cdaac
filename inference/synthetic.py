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
    # An object that approaches the line and backs off: it travels to ``turn`` (share of the
    # way across the frame) in the first half of ``frames`` and back out in the second half.
    turn: float | None = None


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


def pallet_sprite(cartons: int = 3, carton: tuple[int, int] = (44, 56), gap: int = 18, board: int = 6
                  ) -> np.ndarray:
    """One object made of parts with gaps between them: separate cartons on a thin pallet board
    (BGRA; alpha 0 where the background shows through the gaps)."""
    cw, ch = carton
    w = cartons * cw + (cartons - 1) * gap
    s = np.zeros((ch + board, w, 4), np.uint8)
    for i in range(cartons):
        x = i * (cw + gap)
        s[:ch, x:x + cw] = (40, 110, 190, 255)
        s[ch // 3: ch // 3 + 6, x:x + cw, :3] = 235
    s[ch:, :] = (60, 60, 70, 255)  # the board: thin, so it does not join the cartons' blobs
    return s


def touching_pair_sprite(size: tuple[int, int] = (80, 70)) -> np.ndarray:
    """Two different boxes side by side with no gap (BGRA): two objects, one blob."""
    w, h = size
    s = np.zeros((h, 2 * w, 4), np.uint8)
    s[:, :w] = (30, 30, 200, 255)
    s[:, w:] = (40, 170, 40, 255)
    s[h // 3: h // 3 + 8, :, :3] = 240
    return s


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
            if c.turn is None:
                step = travel * k / c.frames
            else:  # out to the turning point and back
                half = c.frames / 2
                step = (c.turn * travel) * (k / half if k <= half else (c.frames - k) / half)
            x = int(-sw + step) if c.direction == "in" else int(width - step)
            x1, x2 = max(0, x), min(width, x + sw)
            y1, y2 = max(0, c.y), min(height, c.y + sh)
            if x1 < x2 and y1 < y2:
                part = sp[y1 - c.y:y2 - c.y, x1 - x:x2 - x]
                if part.shape[2] == 4:  # BGRA: paste only the opaque pixels
                    keep = part[:, :, 3] > 0
                    frame[y1:y2, x1:x2][keep] = part[:, :, :3][keep]
                else:
                    frame[y1:y2, x1:x2] = part
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


def truth(crossings: list[Crossing], objects: dict[int, int] | None = None) -> dict[str, int]:
    """Expected counts: ``objects`` maps a sprite index to how many objects it shows (two
    touching boxes: 2; a pallet of cartons: 1, the default); an object that turns back counts 0."""
    objects = objects or {}
    return {d: sum(objects.get(c.sprite, 1) for c in crossings if c.direction == d and c.turn is None)
            for d in ("in", "out")}


# The counting cases a rule relies on (issue 11): what the clip shows -> what must be counted.
CASES = ("composite", "touching", "backoff")


def counting_case(case: str, seed: int = 0) -> tuple[list[Crossing], list[np.ndarray], int, dict[str, int]]:
    """(crossings, sprites, frames, expected counts) of one generated counting case.

    * ``composite``: a pallet of three separate cartons with gaps, once each way: counts 1 + 1;
    * ``touching``: two different boxes touching side by side, once each way: counts 2 + 2;
    * ``backoff``: a box pushes its centre over the line and backs off, from each side:
      counts 0. The still frames before it let the background model settle, as on a real
      camera that has watched the scene for a while.

    ``seed`` varies heights, speeds and (for back-off) how far past the line it goes.
    """
    rng = np.random.default_rng(seed)
    sprites = [pallet_sprite(), touching_pair_sprite(), product_sprites()[0]]

    def y(sprite: int) -> int:
        return int(rng.integers(20, 480 - sprites[sprite].shape[0] - 20))

    if case in ("composite", "touching"):
        sp = 0 if case == "composite" else 1
        f1, f2 = (int(rng.integers(26, 40)) for _ in range(2))
        crossings = [Crossing(5, f1, y(sp), "in", sp), Crossing(5 + f1 + 10, f2, y(sp), "out", sp)]
        n = 5 + f1 + 10 + f2 + 5
    elif case == "backoff":
        # Centre 20-40 px past the line (box 90 px wide): turn at that share of the travel.
        turns = [(320 + float(rng.uniform(20, 40)) + 45) / (640 + 90) for _ in range(2)]
        f1, f2 = (int(rng.integers(34, 46)) for _ in range(2))
        crossings = [Crossing(60, f1, y(2), "in", 2, turn=turns[0]),
                     Crossing(60 + f1 + 10, f2, y(2), "out", 2, turn=turns[1])]
        n = 60 + f1 + 10 + f2 + 5
    else:
        raise ValueError(f"unknown counting case {case!r} (one of {', '.join(CASES)})")
    return crossings, sprites, n, truth(crossings, {1: 2})
