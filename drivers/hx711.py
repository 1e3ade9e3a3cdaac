"""Load cells through an HX711 24-bit bridge ADC, bit-banged on two GPIO pins (Blinka).

Protocol (datasheet): DOUT goes low when a conversion is ready; the host then gives 24
clock pulses on PD_SCK, reading one bit (MSB first) after each rising edge, plus 1-3
extra pulses that select the next channel/gain (1: A/128, 2: B/32, 3: A/64). PD_SCK
held high for more than 60 us powers the chip down, so the pulses must be short: on a
loaded Pi a preempted Python thread can stretch one, which shows as a spike; the read
takes the median of ``samples`` conversions to reject those.

weight_kg = (raw - offset) / scale, with ``offset`` the raw reading of the empty
platform (tare) and ``scale`` counts per kg from a reference weight.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Annotated, Any

import msgspec

from drivers.gpio.pins import check_gpio_device, pin_bank
from drivers.support.base import Driver, DriverError, ReadResult
from drivers.support.messages import N_, Message
from drivers.support.types import BusSpec, DeviceSpec, ModelSpec, Point, PointSpec

GAIN_PULSES = {128: 1, 32: 2, 64: 3}


class Options(msgspec.Struct, forbid_unknown_fields=True):
    dout_pin: str = ""
    sck_pin: str = ""
    offset: float = 0.0            # raw counts with the platform empty (tare)
    scale: float = 1.0             # raw counts per kg
    gain: int = 128
    samples: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    ready_timeout_s: float = 1.0
    meaning: str = "collateral.weight_kg"
    max_kg: float = 10000.0


def check_device(device: DeviceSpec, model: ModelSpec | None, bus: BusSpec | None) -> tuple[str, Message] | None:
    problem = check_gpio_device(device, model, bus, ("dout_pin", "sck_pin"))
    if problem:
        return problem
    gain = device.options.get("gain", 128)
    if gain not in GAIN_PULSES:
        return "options.gain", Message(N_("one of {gains} (found {gain})"), {"gains": sorted(GAIN_PULSES),
                                                                          "gain": repr(gain)})
    if float(device.options.get("scale", 1.0)) == 0:
        return "options.scale", Message(N_("raw counts per kg, non-zero (calibrate with a reference weight)"))
    return None


def read_raw(dout: Any, sck: Any, gain_pulses: int, ready_timeout_s: float) -> int:
    """One conversion, bit-banged. Blocking: run in a worker thread."""
    deadline = time.monotonic() + ready_timeout_s
    while dout.value:
        if time.monotonic() > deadline:
            raise DriverError("timeout", N_("HX711 never signalled a ready conversion (DOUT stayed high)"))
        time.sleep(0.001)
    raw = 0
    for _ in range(24):
        sck.value = True
        sck.value = False
        raw = (raw << 1) | (1 if dout.value else 0)
    for _ in range(gain_pulses):
        sck.value = True
        sck.value = False
    if raw & 0x800000:
        raw -= 1 << 24
    return raw


class Hx711Driver(Driver):
    kind = "hx711"

    def __init__(self, device: DeviceSpec, model: ModelSpec | None, bus: Any, bus_cfg: BusSpec | None) -> None:
        super().__init__(device, model, bus, bus_cfg)
        self.options = msgspec.convert(device.options, Options)
        self.dout: Any = None
        self.sck: Any = None

    def points(self) -> list[PointSpec]:
        return [Point(name="weight", meaning=self.options.meaning, unit="kg",  # type: ignore[list-item]
                      range=[-self.options.max_kg * 0.05, self.options.max_kg])]

    async def open(self) -> None:
        if self.dout is None:
            bank = pin_bank(self.bus)
            self.dout = bank.pin(self.options.dout_pin)
            self.sck = bank.pin(self.options.sck_pin, output=True)
            self.sck.value = False

    def _read_sync(self) -> tuple[float, list[int]]:
        pulses = GAIN_PULSES[self.options.gain]
        raws = [read_raw(self.dout, self.sck, pulses, self.options.ready_timeout_s)
                for _ in range(max(1, self.options.samples))]
        if all(r in (0x7FFFFF, -0x800000) for r in raws):
            raise DriverError("implausible", N_("HX711 saturated on every sample (bridge open or shorted?)"))
        return float(statistics.median(raws)), raws

    async def read(self) -> ReadResult:
        await self.open()
        async with self.bus.lock:
            raw, raws = await asyncio.to_thread(self._read_sync)
        kg = (raw - self.options.offset) / self.options.scale
        return ReadResult(values={"weight": kg}, requests=len(raws))

    async def close(self) -> None:
        self.dout = self.sck = None


DRIVER = Hx711Driver
