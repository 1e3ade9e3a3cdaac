"""Twins for pulse counters: a PulseTrainPin whose rate follows the device's scenario
(water/gas flow through the meter's litres per pulse, or press cycles per minute)."""

from __future__ import annotations

import tempfile
from typing import Any

import msgspec

from drivers.pulse import Options
from drivers.sim.gpio import EmulatedPins, PulseTrainPin
from drivers.sim.i2c_twins import scenario
from drivers.support.bus import BusHandle
from drivers.support.types import DeviceSpec, ModelSpec

_STATE_DIR: str | None = None


def emulated_pins(buses: dict[str, BusHandle], name: str | None) -> EmulatedPins:
    handle = buses[name or ""]
    if not isinstance(handle.resource, EmulatedPins):
        handle.resource = EmulatedPins()
    pins: EmulatedPins = handle.resource
    return pins


def _rate_fn(dev: DeviceSpec, opts: Options) -> Any:
    if "rate_hz" in dev.sim:
        return float(dev.sim["rate_hz"])
    family = opts.meaning.split(".")[0]
    sc = scenario(dev, "water" if family in ("water", "gas") else "press")

    def rate() -> float:
        v = sc.values()
        if opts.meaning == "machine.cycles":
            return v.get("machine.cycles_per_min", 0.0) / 60.0
        flow = v.get(f"{family}.flow_m3h", v.get("water.flow_m3h", 0.0))
        return flow / 3600.0 / opts.per_pulse

    return rate


async def start_twins(items: list[tuple[DeviceSpec, ModelSpec | None]], buses: dict[str, BusHandle]
                      ) -> tuple[dict[str, DeviceSpec], list[Any], list[Any]]:
    global _STATE_DIR
    overrides: dict[str, DeviceSpec] = {}
    pins = []
    for dev, _ in items:
        opts = msgspec.convert(dev.options, Options)
        pin = emulated_pins(buses, dev.bus).add(opts.pin, PulseTrainPin(
            _rate_fn(dev, opts), width_s=float(dev.sim.get("width_s", 0.08)),
            bounce_s=float(dev.sim.get("bounce_s", 0.002)), active_low=opts.active_low))
        pins.append(pin)
        if opts.state_dir is None:
            # A twin's count must not land in (or continue from) a real meter's state file.
            _STATE_DIR = _STATE_DIR or tempfile.mkdtemp(prefix="edgeproof-twin-pulse-")
            overrides[dev.name] = msgspec.structs.replace(dev, options={**dev.options, "state_dir": _STATE_DIR})
    return overrides, [], pins
