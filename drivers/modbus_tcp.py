"""Modbus TCP devices (energy meters behind a gateway, PLCs) via pymodbus's async client."""

from __future__ import annotations

from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from drivers.modbus.device import RegisterMap, read_map
from drivers.modbus.identity import read_identity
from drivers.support.base import Driver, DriverError, ReadResult
from drivers.support.messages import N_, Message
from drivers.support.types import BusSpec as Bus
from drivers.support.types import DeviceSpec as Device
from drivers.support.types import ModelSpec as Model
from drivers.support.types import PointSpec as PointDef


def check_device(device: Device, model: Model | None, bus: Bus | None) -> tuple[str, Message] | None:
    if not device.host:
        return "host", Message(N_("the device's IP address or host name (Modbus TCP)"))
    if model is None:
        return "model", Message(N_("a register map name (e.g. 'eastron-sdm630') for a Modbus device"))
    return None


class ModbusTcpDriver(Driver):
    kind = "modbus_tcp"

    def __init__(self, device: Device, model: Model | None, bus: Any, bus_cfg: Bus | None) -> None:
        super().__init__(device, model, bus, bus_cfg)
        assert model is not None
        self.regmap = RegisterMap(model)
        self.client: AsyncModbusTcpClient | None = None

    def points(self) -> list[PointDef]:
        return self.regmap.points

    async def open(self) -> None:
        if self.client is not None and self.client.connected:
            return
        self.client = AsyncModbusTcpClient(
            self.device.host or "127.0.0.1", port=self.device.port or 502,
            timeout=self.device.timeout_s, retries=0, reconnect_delay=0)
        if not await self.client.connect():
            self.client.close()
            self.client = None
            raise DriverError("io", N_("cannot connect to {host}:{value}"),
                                    host=self.device.host, value=self.device.port or 502)

    async def read(self) -> ReadResult:
        if self.client is None or not self.client.connected:
            await self.open()
        assert self.client is not None
        return await read_map(self.client, self.regmap, self.device.unit_id, self.device.timeout_s)

    async def identify(self) -> dict[str, str] | None:
        if getattr(self.model, "identity", None) is None:
            return None
        if self.client is None or not self.client.connected:
            await self.open()
        assert self.client is not None
        return await read_identity(self.client, self.model, self.device.unit_id, self.device.timeout_s)

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


DRIVER = ModbusTcpDriver
