"""The one driver interface: a device turns a bus into decoded values per point.

Drivers only talk to hardware. Quality (out_of_range, stale), storage, backoff and
health are done once, in the gateway's scheduler, so every driver gets them for free.
A new device family is a new module ``drivers/<kind>.py`` exposing ``DRIVER`` (a Driver
subclass), optionally ``Options`` (a msgspec Struct for ``[devices.options]``) and
``check_device(device, model, bus) -> (key, expected) | None`` for load-time checks, and
(serial-line drivers) ``bus_time_s(device, model, bus) -> seconds`` of wire time per poll,
which the profile loader sums per line against the poll periods. Its emulator lives in
``drivers/sim/<kind>.py`` (``start_twins(items, buses)``). Drivers never import ``gateway``:
what they read from a profile is described in ``drivers/support/types.py``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from drivers.support.messages import N_, Message, fill, kind_text

if TYPE_CHECKING:
    from drivers.support.types import BusSpec as Bus
    from drivers.support.types import DeviceSpec as Device
    from drivers.support.types import ModelSpec as Model
    from drivers.support.types import PointSpec as PointDef


class Quality:
    """Per-reading quality. A dead meter yields comm_error rows, never a repeated value."""

    GOOD = "good"
    STALE = "stale"
    COMM_ERROR = "comm_error"
    OUT_OF_RANGE = "out_of_range"
    ALL = (GOOD, STALE, COMM_ERROR, OUT_OF_RANGE)


class DriverError(Exception):
    """A failed read. ``kind`` is counted per device: timeout, crc, exception, short_frame,
    io, not_found, implausible."""

    def __init__(self, kind: str, message: str, /, **params: Any) -> None:
        # ``message`` is an N_ template (drivers/support/messages.py) and its values: ``message`` and str() stay English
        # (logs, health), ``template``/``params`` are what the gateway translates where a person reads it.
        self.kind = kind
        self.message = fill(message, params)
        super().__init__(f"{kind}: {self.message}")
        self.template = N_("{kind}: {message}")
        self.params: dict[str, Any] = {"kind": Message(kind_text(kind)), "message": Message(message, params)}


@dataclass
class ReadResult:
    """Decoded engineering values per point name; ``requests`` counts bus transactions."""

    values: dict[str, float]
    requests: int = 1
    latency_s: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)  # point -> reason, for partial reads


class Driver(ABC):
    """One installed device on one bus."""

    kind: ClassVar[str] = ""

    def __init__(self, device: Device, model: Model | None, bus: Any | None, bus_cfg: Bus | None) -> None:
        self.device = device
        self.model = model
        self.bus = bus
        self.bus_cfg = bus_cfg
        self.errors: Counter[str] = Counter()
        self.requests = 0

    @abstractmethod
    def points(self) -> list[PointDef]:
        """The points this device yields (from its model, or built into the driver)."""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect; called before the first read and after a failure."""

    @abstractmethod
    async def read(self) -> ReadResult:
        """Read every point once. Raise DriverError on failure; never return made-up numbers."""

    async def identify(self) -> dict[str, str] | None:
        """The physical unit's identity (``serial``, ``model``, ``firmware``: short strings), or None
        when this device cannot say who it is. Called at start, after a recovery and daily (not every
        poll); raise DriverError on a failed read. The gateway signs a change (gateway/uplink/identity.py)."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection; the scheduler calls open() again before the next read."""

    async def timed_read(self) -> ReadResult:
        t0 = time.perf_counter()
        try:
            result = await self.read()
        except DriverError as exc:
            self.errors[exc.kind] += 1
            raise
        result.latency_s = time.perf_counter() - t0
        self.requests += result.requests
        return result
