"""Machine on/off from a digital input (a run contactor's auxiliary contact, a PLC output,
a current relay set to the motor's idle current), through Blinka digitalio.

Each read takes ``samples`` samples spread over ``debounce_ms`` and reports the majority,
so a contact caught while bouncing does not flip the state. Reports ``machine.running``
(1 = running) by default; ``meaning`` can name another 0/1 state.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from drivers.gpio.pins import check_gpio_device, pin_bank
from drivers.support.base import Driver, ReadResult
from drivers.support.messages import Message
from drivers.support.types import BusSpec, DeviceSpec, ModelSpec, Point, PointSpec


class Options(msgspec.Struct, forbid_unknown_fields=True):
    pin: str = ""
    meaning: str = "machine.running"
    active_low: bool = False       # True when the contact pulls the pin low while running
    pull_up: bool | None = None
    debounce_ms: float = 10.0
    samples: int = 5
    stuck_after_s: float | None = None


def check_device(device: DeviceSpec, model: ModelSpec | None, bus: BusSpec | None) -> tuple[str, Message] | None:
    return check_gpio_device(device, model, bus, ("pin",))


class DigitalInDriver(Driver):
    kind = "digital_in"

    def __init__(self, device: DeviceSpec, model: ModelSpec | None, bus: Any, bus_cfg: BusSpec | None) -> None:
        super().__init__(device, model, bus, bus_cfg)
        self.options = msgspec.convert(device.options, Options)
        self.pin: Any = None

    def points(self) -> list[PointSpec]:
        return [Point(name="state", meaning=self.options.meaning, unit="",  # type: ignore[list-item]
                      range=[0, 1], stuck_after_s=self.options.stuck_after_s)]

    async def open(self) -> None:
        if self.pin is None:
            self.pin = pin_bank(self.bus).pin(self.options.pin, pull_up=self.options.pull_up)

    async def read(self) -> ReadResult:
        await self.open()
        n = max(1, self.options.samples)
        highs = 0
        for i in range(n):
            highs += 1 if self.pin.value else 0
            if i + 1 < n:
                await asyncio.sleep(self.options.debounce_ms / 1000.0 / (n - 1))
        level = highs * 2 > n
        active = (not level) if self.options.active_low else level
        return ReadResult(values={"state": 1.0 if active else 0.0}, requests=0)

    async def close(self) -> None:
        self.pin = None


DRIVER = DigitalInDriver
