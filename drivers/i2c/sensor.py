"""The common I2C sensor driver: bus factory, one lock per bus, CRC retry and counting.

The Adafruit drivers are blocking (they sleep while the chip converts), so each read runs
in a worker thread while the asyncio bus lock is held: two sensors on one bus never
interleave transactions. The runtime is handed its I2C object (``BusHandle.resource``):
an emulated bus in simulate mode and tests, ``board.I2C()`` on a Pi, created on first use
so nothing touches ``board`` at import time.

A CRC mismatch (SHT31, AHT20) is counted as ``crc`` and the read is retried; only a
reading whose CRC held becomes a number. All retries failing fails the read.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from typing import Annotated, Any

import msgspec

from drivers.support.base import Driver, DriverError, ReadResult
from drivers.support.messages import N_
from drivers.support.types import BusSpec, DeviceSpec, ModelSpec, Point, PointSpec


class CrcError(Exception):
    """A sensor frame whose CRC did not match."""


class I2COptions(msgspec.Struct, forbid_unknown_fields=True):
    # Attempts after a CRC error before the read fails (each failure is counted).
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    # Flag a value unchanged for this long as stale (a frozen sensor).
    stuck_after_s: Annotated[float, msgspec.Meta(gt=0)] | None = None


def check_i2c_device(device: DeviceSpec, model: ModelSpec | None, bus: BusSpec | None) -> tuple[str, str] | None:
    if bus is None or bus.kind != "i2c":
        return "bus", "a declared bus of kind 'i2c'"
    return None


def open_i2c(bus_cfg: BusSpec) -> Any:
    """The real I2C bus of a Pi (Blinka). Imported late: ``board`` probes the platform."""
    try:
        if bus_cfg.i2c_bus == 1:
            import board

            return board.I2C()
        from adafruit_extended_bus import ExtendedI2C  # type: ignore[import-not-found]

        return ExtendedI2C(bus_cfg.i2c_bus)
    except (ImportError, ValueError, RuntimeError, OSError, AttributeError) as exc:
        raise DriverError("io", N_("cannot open I2C bus {i2c_bus}: {error}"),
                                i2c_bus=bus_cfg.i2c_bus, error=exc) from exc


class I2CSensorDriver(Driver):
    default_address: int = 0

    def __init__(self, device: DeviceSpec, model: ModelSpec | None, bus: Any, bus_cfg: BusSpec | None) -> None:
        super().__init__(device, model, bus, bus_cfg)
        self.options = msgspec.convert(device.options, I2COptions)
        self.address = device.address if device.address is not None else self.default_address
        self.sensor: Any = None

    @abstractmethod
    def make_sensor(self, i2c: Any) -> Any:
        """Construct the Adafruit driver object (probes the chip)."""

    @abstractmethod
    def measure(self, sensor: Any) -> dict[str, float]:
        """One measurement through the Adafruit driver; raise CrcError on a CRC mismatch."""

    def _open_sync(self) -> None:
        if self.bus.resource is None:
            self.bus.resource = open_i2c(self.bus.cfg)
        try:
            self.sensor = self.make_sensor(self.bus.resource)
        except ValueError as exc:  # adafruit_bus_device: "No I2C device at address"
            raise DriverError("not_found", N_("{error} on I2C bus {name}"), error=exc, name=self.bus.cfg.name) from exc
        except (OSError, RuntimeError) as exc:
            raise DriverError("io", N_("sensor at 0x{address} did not initialise: {error}"),
                                    address=f'{self.address:02x}', error=exc) from exc

    def _read_sync(self) -> tuple[dict[str, float], int]:
        if self.sensor is None:
            self._open_sync()
        crc_failures = 0
        for _attempt in range(self.options.retries + 1):
            try:
                return self.measure(self.sensor), crc_failures
            except CrcError:
                crc_failures += 1
            except OSError as exc:
                raise DriverError("io", N_("I2C transfer to 0x{address} failed: {error}"),
                                        address=f'{self.address:02x}', error=exc) from exc
        raise DriverError("crc", N_("CRC mismatch on {crc_failures} consecutive reads at 0x{address}"),
                                 crc_failures=crc_failures, address=f'{self.address:02x}')

    async def read(self) -> ReadResult:
        async with self.bus.lock:
            t0 = time.perf_counter()
            try:
                values, crc_failures = await asyncio.to_thread(self._read_sync)
            except DriverError as exc:
                if exc.kind == "crc":
                    # every attempt failed: count them all (timed_read adds one for the read)
                    self.errors["crc"] += self.options.retries
                raise
            finally:
                self.bus.busy_s += time.perf_counter() - t0
        if crc_failures:
            self.errors["crc"] += crc_failures
            self.errors["crc_recovered"] += 1
        return ReadResult(values=values, requests=1 + crc_failures)

    async def close(self) -> None:
        self.sensor = None

    def point(self, name: str, meaning: str, unit: str, lo: float, hi: float) -> PointSpec:
        return Point(name=name, meaning=meaning, unit=unit, range=[lo, hi],  # type: ignore[return-value]
                     stuck_after_s=self.options.stuck_after_s)
