"""A Modbus device emulator: a real pymodbus server answering like the modelled meter.

It serves a model's register map (one contiguous block, as real meters answer block
reads across their map) with values from a Scenario, encoded exactly as the device
would (type, word and byte order, scale). It counts requests per unit so tests and
benches can check coalescing, and it can play a dead or noisy unit on a shared line.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus.decode import WIDTH, encode
from drivers.modbus.identity import FIELDS, width
from drivers.sim.scenarios import Scenario
from drivers.support.types import ModelSpec as Model


@dataclass
class UnitState:
    model: Model
    scenario: Scenario
    dead: bool = False          # never answers (a unit with a broken transceiver)
    corrupt_crc: bool = False   # answers with a flipped byte (RTU: CRC error)
    short_frame: bool = False   # answers with the last 3 bytes missing (RTU: a frame cut short)
    delay_s: float = 0.0
    # What the identity registers answer (serial/model/firmware -> int or text); None: zeros, as a
    # meter with no serial programmed. A test swaps the meter by changing it (and the readings go on).
    identity: dict[str, int | str] | None = None


def sim_identity(device_name: str, model: Model) -> dict[str, int | str] | None:
    """A stable, distinct identity for an emulated device (None when its map declares none)."""
    ident = getattr(model, "identity", None)
    if ident is None:
        return None
    serial = 10_000_000 + zlib.crc32(device_name.encode()) % 89_999_999
    out: dict[str, int | str] = {}
    for name, value in (("serial", serial), ("model", zlib.crc32(model.name.encode()) % 250 + 1), ("firmware", 204)):
        reg = getattr(ident, name, None)
        if reg is not None:
            out[name] = str(value) if reg.type == "ascii" else value
    return out


def _identity_regs(model: Model, identity: dict[str, int | str] | None) -> dict[int, int]:
    """Register address -> value for the identity registers (zeros where the identity has no value)."""
    ident = getattr(model, "identity", None)
    out: dict[int, int] = {}
    if ident is None:
        return out
    for name in FIELDS:
        reg = getattr(ident, name, None)
        if reg is None:
            continue
        n = width(reg)
        value = (identity or {}).get(name)
        if reg.type == "ascii":
            raw = str(value or "").encode("ascii", "replace")[:2 * n].ljust(2 * n, b"\x00")
            if (reg.byte_order or model.byte_order) != "big":
                raw = bytes(b for i in range(0, len(raw), 2) for b in (raw[i + 1], raw[i]))
            words = [raw[i] << 8 | raw[i + 1] for i in range(0, 2 * n, 2)]
        else:
            words = encode(float(int(value or 0)), reg.type, reg.word_order or model.word_order,
                           reg.byte_order or model.byte_order)
        for i, w in enumerate(words):
            out[reg.address + i] = w
    return out


def _spans(addresses: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of register addresses as (start, count)."""
    spans: list[tuple[int, int]] = []
    for a in sorted(set(addresses)):
        if spans and spans[-1][0] + spans[-1][1] == a:
            spans[-1] = (spans[-1][0], spans[-1][1] + 1)
        else:
            spans.append((a, 1))
    return spans


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
        ident_addrs = [a for a in _identity_regs(state.model, None) if not lo <= a < hi]

        async def action(fc: int, start: int, address: int, count: int, registers: list[int],
                         values: Any) -> Any:
            self.requests[unit_id] += 1
            if state.delay_s:
                await asyncio.sleep(state.delay_s)
            now_values = state.scenario.values()
            for p in state.model.points:
                if p.address is None or p.meaning not in now_values or p.table not in ("input", "holding"):
                    continue
                off = p.address - start  # start: the address of registers[0] (one memory for all blocks)
                if off < 0 or off + WIDTH[p.type] > len(registers):
                    continue
                regs = encode(now_values[p.meaning], p.type,
                              p.word_order or state.model.word_order, p.byte_order or state.model.byte_order,
                              p.scale, p.offset)
                registers[off:off + len(regs)] = regs
            for addr, word in _identity_regs(state.model, state.identity).items():
                if 0 <= addr - start < len(registers):
                    registers[addr - start] = word
            return None

        blocks = sorted([(lo, hi - lo), *_spans(ident_addrs)])
        return SimDevice(id=unit_id, simdata=[SimData(address=a, count=n, values=0, datatype=DataType.REGISTERS)
                                              for a, n in blocks], action=action)

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
