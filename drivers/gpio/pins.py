"""Pins: Blinka digitalio on a Pi, an emulated pin bank in simulate mode and tests.

A gpio bus's ``BusHandle.resource`` is the pin bank: anything with ``pin(name)``
returning an object with a ``value`` attribute (and accepting ``direction``/``pull``).
On a Pi it is created on first use and wraps ``digitalio.DigitalInOut(board.<name>)``,
imported late so nothing touches ``board`` at import time.
"""

from __future__ import annotations

from typing import Any

from drivers.support.base import DriverError
from drivers.support.messages import N_, Message


class BlinkaPins:
    """The real header: pins named as Blinka's board module names them (D17, D27, ...)."""

    def __init__(self) -> None:
        self.opened: dict[str, Any] = {}

    def pin(self, name: str, output: bool = False, pull_up: bool | None = None) -> Any:
        if name in self.opened:
            return self.opened[name]
        try:
            import board
            import digitalio

            io = digitalio.DigitalInOut(getattr(board, name))
            if output:
                io.direction = digitalio.Direction.OUTPUT
                io.value = False
            else:
                io.direction = digitalio.Direction.INPUT
                if pull_up is not None:
                    io.pull = digitalio.Pull.UP if pull_up else digitalio.Pull.DOWN
        except (ImportError, AttributeError, NotImplementedError, RuntimeError, OSError, ValueError) as exc:
            raise DriverError("io", N_("cannot open GPIO pin {name} through Blinka: {error}"),
                                    name=f'{name!r}', error=exc) from exc
        self.opened[name] = io
        return io


def pin_bank(bus: Any) -> Any:
    if bus.resource is None:
        bus.resource = BlinkaPins()
    return bus.resource


def check_gpio_device(device: Any, model: Any, bus: Any, required: tuple[str, ...]) -> tuple[str, Message] | None:
    if bus is None or bus.kind != "gpio":
        return "bus", Message(N_("a declared bus of kind 'gpio' (the board's GPIO header)"))
    for key in required:
        if not device.options.get(key):
            return f"options.{key}", Message(N_("a GPIO pin name as Blinka's board module names it, e.g. 'D17'"))
    return None
