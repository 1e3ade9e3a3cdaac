"""Emulated twin of a camera: a generated clip of products crossing the line, replayed in a loop.

A simulated site has no camera, so the twin renders a short synthetic clip (flat-coloured
products on a textured belt, see inference/synthetic.py) into a temporary folder and points
the device's ``source`` at it with ``loop = true``. The real capture, motion gate, tracker
and counters then run unchanged, and their counts flow into indicators and signed batches
like every other device's. The clip never leaves the machine.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from drivers.support.types import DeviceSpec as Device
from drivers.support.types import ModelSpec as Model


def _render(path: Path, seconds: float, fps: float) -> None:
    from inference import synthetic as syn

    n = int(seconds * fps)
    period = max(12, n // 4)
    crossings = [syn.Crossing(start=i * period + 2, frames=period - 4, y=80 + 90 * (i % 3),
                              direction="in" if i % 3 else "out", sprite=i % 3) for i in range(n // period)]
    syn.write_video(path, syn.render(crossings, syn.product_sprites(), n), fps=fps)


async def start_twins(items: list[tuple[Device, Model | None]], buses: dict[str, Any]
                      ) -> tuple[dict[str, Device], list[Any], list[Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="edgeproof-camtwin-"))
    overrides: dict[str, Device] = {}
    for dev, _model in items:
        clip = tmp / f"{dev.name}.avi"
        _render(clip, float(dev.sim.get("clip_s", 12.0)), float(dev.sim.get("fps", 10.0)))
        options = {**dev.options, "source": str(clip), "loop": True}
        overrides[dev.name] = msgspec.structs.replace(dev, options=options)

    async def cleanup() -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    return overrides, [cleanup], []
