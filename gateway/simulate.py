"""Emulated twins: run a profile with no hardware by starting each device's emulator.

For every device whose driver has an emulator module ``drivers/sim/<driver>.py``
(exposing ``start_twins(items, buses)``), the emulator is started on loopback (or a pty,
or an emulated I2C bus) and the device is pointed at it. The real driver and protocol
stack then run unchanged. This is how `sim-factory` and the boards' twins run.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from drivers.support.bus import BusHandle
from gateway.profile.schema import Device, Model

Stopper = Callable[[], Awaitable[None]]


async def start_twins(items: list[tuple[Device, Model | None]], buses: dict[str, BusHandle]
                      ) -> tuple[dict[str, Device], list[Stopper], list[Any]]:
    """Returns (device overrides by name, stoppers, emulator objects for tests/benches)."""
    by_kind: dict[str, list[tuple[Device, Model | None]]] = {}
    for dev, model in items:
        by_kind.setdefault(dev.driver, []).append((dev, model))
    overrides: dict[str, Device] = {}
    stoppers: list[Stopper] = []
    emulators: list[Any] = []
    for kind, group in by_kind.items():
        try:
            mod = importlib.import_module(f"drivers.sim.{kind}")
        except ModuleNotFoundError as exc:
            if exc.name == f"drivers.sim.{kind}":
                continue  # a driver without a twin: it simulates itself or runs as it is
            raise
        o, s, e = await mod.start_twins(group, buses)
        overrides.update(o)
        stoppers.extend(s)
        emulators.extend(e)
    return overrides, stoppers, emulators
