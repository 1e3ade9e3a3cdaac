"""A Modbus device emulator: a real pymodbus server answering like the modelled meter.

It serves a model's register map (one contiguous block, as real meters answer block
reads across their map) with values from a Scenario, encoded exactly as the device
would (type, word and byte order, scale). It counts requests per unit so tests and
benches can check coalescing, and it can play a dead or noisy unit on a shared line.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus.decode import WIDTH, encode
from drivers.sim.scenarios import Scenario
from drivers.types import ModelSpec as Model


@dataclass
class UnitState:
    model: Model
    scenario: Scenario
    dead: bool = False          # never answers (a unit with a broken transceiver)
    corrupt_crc: bool = False   # answers with a flipped byte (RTU: CRC error)
    short_frame: bool = False   # answers with the last 3 bytes missing (RTU: a frame cut short)
    delay_s: float = 0.0


@dataclass
class ModbusEmulator:
    """One server = one TCP endpoint or one RS485 line with one or more units."""

    units: dict[int, UnitState]
    framer: str = "socket"       # socket (TCP) | rtu
    host: str = "127.0.0.1"
    port: int = 0
    serial_port: str | None = None
    baudrate: int = 9600
    requests: Counter[int] = field(default_factory=Counter)
    server: Any = None

    def _block(self, model: Model) -> tuple[int, int]:
        regs = [(p.address or 0, (p.address or 0) + WIDTH[p.type]) for p in model.points
                if p.address is not None and p.table in ("input", "holding")]
        lo = min(a for a, _ in regs) if regs else 0
        hi = max(b for _, b in regs) if regs else 1
        return lo, hi

    def _device(self, unit_id: int, state: UnitState) -> SimDevice:
        lo, hi = self._block(state.model)

        async def action(fc: int, start: int, address: int, count: int, registers: list[int],
                         values: Any) -> Any:
            self.requests[unit_id] += 1
            if state.delay_s:
                await asyncio.sleep(state.delay_s)
            now_values = state.scenario.values()
            for p in state.model.points:
                if p.address is None or p.meaning not in now_values or p.table not in ("input", "holding"):
                    continue
                regs = encode(now_values[p.meaning], p.type,
                              p.word_order or state.model.word_order, p.byte_order or state.model.byte_order,
                              p.scale, p.offset)
                off = p.address - start
                registers[off:off + len(regs)] = regs
            return None

        return SimDevice(id=unit_id, simdata=[SimData(address=lo, count=hi - lo, values=0,
                                                        datatype=DataType.REGISTERS)], action=action)

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """Fault injection at the byte level: silence a dead unit, corrupt a noisy one."""
        if not data:
            return data
        unit = data[6] if self.framer == "socket" and len(data) > 6 else data[0]
        state = self.units.get(unit)
        # Silence is made on the answer, not by swallowing the request: a swallowed request
        # stays in the server's receive buffer and garbles the next one.
        if state is None:
            # On a multi-drop line a request for an absent unit meets silence (pymodbus would
            # answer exception 4 for unknown ids, which no real line does).
            return b"" if sending and self.framer == "rtu" else data
        if state.dead:
            return b"" if sending else data
        if sending and state.corrupt_crc and self.framer == "rtu" and len(data) > 3:
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        if sending and state.short_frame and self.framer == "rtu" and len(data) > 6:
            return data[:-3]
        return data

    async def start(self) -> ModbusEmulator:
        devices = [self._device(uid, st) for uid, st in sorted(self.units.items())]
        if self.framer == "socket":
            self.server = ModbusTcpServer(devices, address=(self.host, self.port), trace_packet=self._trace)
        elif self.serial_port is not None:
            self.server = ModbusSerialServer(devices, framer=FramerType.RTU, port=self.serial_port,
                                             baudrate=self.baudrate, trace_packet=self._trace)
        else:  # RTU framing over TCP: serial clients reach it as socket://host:port
            self.server = ModbusTcpServer(devices, framer=FramerType.RTU, address=(self.host, self.port),
                                          trace_packet=self._trace)
        await self.server.serve_forever(background=True)
        if self.framer == "socket" or self.serial_port is None:
            self.port = self.server.transport.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None
