"""Shared twin start-up for I2C sensors: one EmulatedI2C per bus, one chip per device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.sim.i2c_bus import Chip, EmulatedI2C
from drivers.sim.scenarios import Scenario
from drivers.support.bus import BusHandle
from drivers.support.types import DeviceSpec, ModelSpec


def scenario(dev: DeviceSpec, default: str) -> Scenario:
    sim = dict(dev.sim)
    kind = str(sim.pop("scenario", default))
    seed = int(sim.pop("seed", sum(dev.name.encode()) % 10000))
    return Scenario(kind, params=sim, seed=seed)


def emulated_bus(buses: dict[str, BusHandle], name: str | None) -> EmulatedI2C:
    handle = buses[name or ""]
    if not isinstance(handle.resource, EmulatedI2C):
        handle.resource = EmulatedI2C()
    bus: EmulatedI2C = handle.resource
    return bus


async def start_i2c_twins(items: list[tuple[DeviceSpec, ModelSpec | None]], buses: dict[str, BusHandle],
                          make: Callable[[Callable[[], dict[str, float]]], Chip], default_address: int
                          ) -> tuple[dict[str, DeviceSpec], list[Any], list[Any]]:
    chips = []
    for dev, _ in items:
        sc = scenario(dev, "climate")
        chip = make(sc.values)
        emulated_bus(buses, dev.bus).attach(dev.address if dev.address is not None else default_address, chip)
        chips.append(chip)
    return {}, [], chips
