"""Twins for sht31d: a Sht31 chip emulation on the bus's EmulatedI2C (see drivers/sim/i2c_bus.py)."""

from __future__ import annotations

from typing import Any

from drivers.sim.i2c_bus import Sht31
from drivers.sim.i2c_twins import start_i2c_twins
from drivers.support.bus import BusHandle
from drivers.support.types import DeviceSpec, ModelSpec


async def start_twins(items: list[tuple[DeviceSpec, ModelSpec | None]], buses: dict[str, BusHandle]
                      ) -> tuple[dict[str, DeviceSpec], list[Any], list[Any]]:
    return await start_i2c_twins(items, buses, Sht31, 0x44)
