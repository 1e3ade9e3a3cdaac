"""Modbus RTU devices on an RS485 line (energy meters, transmitters, I/O modules) via pyserial.

Several units share one line: they share one serial client (``drivers.modbus.line``) and
the bus lock, held for one device's whole poll so its coalesced requests go out back to
back. A unit that does not answer fails its poll at the first request (one timeout, never
one per request) and the scheduler backs it off, so a dead unit costs the others at most
one timeout per cycle. Timeouts, CRC errors, short frames and Modbus exceptions are
counted per unit in ``Driver.errors``.
"""

from __future__ import annotations

import time
from typing import Any

from drivers.modbus.bustime import plan_wire_s
from drivers.modbus.device import RegisterMap, read_map
from drivers.modbus.identity import read_identity
from drivers.modbus.line import RtuLine
from drivers.support.base import Driver, DriverError, ReadResult
from drivers.support.messages import N_, Message
from drivers.support.types import BusSpec, DeviceSpec, ModelSpec, PointSpec


def check_device(device: DeviceSpec, model: ModelSpec | None, bus: BusSpec | None) -> tuple[str, Message] | None:
    if bus is None or bus.kind != "serial":
        return "bus", Message(N_("a declared bus of kind 'serial' (the RS485 line this unit is wired to)"))
    if model is None:
        return "model", Message(N_("a register map name (e.g. 'eastron-sdm120') for a Modbus device"))
    if device.unit_id == 0:
        return "unit_id", Message(N_("a unit id 1..247 (0 is broadcast, which never answers)"))
    return None


def bus_time_s(device: DeviceSpec, model: ModelSpec | None, bus: BusSpec) -> float:
    """Wire time of one poll of this device (for the bus-time budget at profile load)."""
    if model is None:
        return 0.0
    return plan_wire_s(RegisterMap(model).requests, bus)


class ModbusRtuDriver(Driver):
    kind = "modbus_rtu"

    def __init__(self, device: DeviceSpec, model: ModelSpec | None, bus: Any, bus_cfg: BusSpec | None) -> None:
        super().__init__(device, model, bus, bus_cfg)
        if model is None or bus is None:
            raise DriverError("io", N_("{name}: a Modbus RTU device needs a model and a serial bus"), name=device.name)
        self.regmap = RegisterMap(model)
        self.wire_s = plan_wire_s(self.regmap.requests, bus.cfg)

    def points(self) -> list[PointSpec]:
        return self.regmap.points

    @property
    def line(self) -> RtuLine:
        if self.bus.resource is None:
            self.bus.resource = RtuLine(self.bus.cfg)
        line: RtuLine = self.bus.resource
        return line

    async def open(self) -> None:
        if not await self.line.acquire(self):
            raise DriverError("io", N_("cannot open serial port {port}"), port=f'{self.bus.cfg.port!r}')

    async def read(self) -> ReadResult:
        cfg = self.bus.cfg
        async with self.bus.lock:
            line = self.line
            if not line.connected or id(self) not in line.users:
                await self.open()
            assert line.client is not None
            t0 = time.perf_counter()
            try:
                result = await read_map(line.client, self.regmap, self.device.unit_id,
                                        min(self.device.timeout_s, cfg.timeout_s) + 0.05, line=line,
                                        pause_s=cfg.inter_request_ms / 1000.0)
            except DriverError as exc:
                self.bus.stats[exc.kind] += 1
                if exc.kind == "io":
                    line.release(self, force=True)
                raise
            finally:
                self.bus.busy_s += time.perf_counter() - t0
                self.bus.stats["requests"] += len(self.regmap.requests)
        return result

    async def identify(self) -> dict[str, str] | None:
        if getattr(self.model, "identity", None) is None:
            return None
        cfg = self.bus.cfg
        async with self.bus.lock:  # the line is shared: identity requests queue like reads
            line = self.line
            if not line.connected or id(self) not in line.users:
                await self.open()
            assert line.client is not None
            try:
                return await read_identity(line.client, self.model, self.device.unit_id,
                                           min(self.device.timeout_s, cfg.timeout_s) + 0.05)
            except DriverError as exc:
                if exc.kind == "io":
                    line.release(self, force=True)
                raise

    async def close(self) -> None:
        if self.bus is not None and isinstance(self.bus.resource, RtuLine):
            self.bus.resource.release(self)


DRIVER = ModbusRtuDriver
