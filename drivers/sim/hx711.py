"""Twins for load cells: an HX711 chip emulation on two emulated pins, its raw counts made
from the scenario's weight through the device's own calibration (offset, scale)."""

from __future__ import annotations

import random
from typing import Any

import msgspec

from drivers.hx711 import Options
from drivers.sim.gpio import Hx711
from drivers.sim.i2c_twins import scenario
from drivers.sim.pulse import emulated_pins
from drivers.support.bus import BusHandle
from drivers.support.types import DeviceSpec, ModelSpec


async def start_twins(items: list[tuple[DeviceSpec, ModelSpec | None]], buses: dict[str, BusHandle]
                      ) -> tuple[dict[str, DeviceSpec], list[Any], list[Any]]:
    chips = []
    for dev, _ in items:
        opts = msgspec.convert(dev.options, Options)
        sc = scenario(dev, "pallet")
        rng = random.Random(1)

        def raw(sc: Any = sc, opts: Options = opts, rng: random.Random = rng) -> int:
            kg = sc.values().get(opts.meaning, 0.0)
            counts = opts.offset + kg * opts.scale + rng.gauss(0, abs(opts.scale) * 0.05)
            return max(-0x800000, min(0x7FFFFF, round(counts)))

        chip = Hx711(raw, sps=float(dev.sim.get("sps", 80.0)))
        bank = emulated_pins(buses, dev.bus)
        bank.add(opts.dout_pin, chip.dout)
        bank.add(opts.sck_pin, chip.sck)
        chips.append(chip)
    return {}, [], chips
