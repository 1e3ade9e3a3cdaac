"""Twins for digital inputs: a LevelPin following the scenario's state (e.g. a press running)."""

from __future__ import annotations

from typing import Any

import msgspec

from drivers.digital_in import Options
from drivers.sim.gpio import LevelPin
from drivers.sim.i2c_twins import scenario
from drivers.sim.pulse import emulated_pins
from drivers.support.bus import BusHandle
from drivers.support.types import DeviceSpec, ModelSpec


async def start_twins(items: list[tuple[DeviceSpec, ModelSpec | None]], buses: dict[str, BusHandle]
                      ) -> tuple[dict[str, DeviceSpec], list[Any], list[Any]]:
    pins = []
    for dev, _ in items:
        opts = msgspec.convert(dev.options, Options)
        sc = scenario(dev, "press")

        def level(sc: Any = sc, opts: Options = opts) -> bool:
            on = sc.values().get(opts.meaning, 0.0) >= 0.5
            return (not on) if opts.active_low else on

        pins.append(emulated_pins(buses, dev.bus).add(opts.pin, LevelPin(level)))
    return {}, [], pins
