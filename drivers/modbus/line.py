"""One RS485 line: a shared pymodbus serial client and what it saw on the wire.

All units on a multi-drop line share one serial port, so they share one client (held in
the bus's ``BusHandle.resource``) and one lock (``BusHandle.lock``, held for a whole
device poll). pymodbus drops a frame with a bad CRC silently and then times out, which
would make a noisy unit look like a dead one; the line therefore keeps the bytes
received during the current transaction (a ``trace_packet`` hook) so a timeout can be
told apart: nothing came back (timeout), a complete frame with a bad CRC (crc), or a
frame that stopped short (short_frame).
"""

from __future__ import annotations

from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.framer.rtu import FramerRTU

from drivers.modbus.bustime import response_bytes


def crc_ok(frame: bytes) -> bool:
    if len(frame) < 4:
        return False
    return FramerRTU.check_CRC(frame[:-2], (frame[-2] << 8) | frame[-1])


class RtuLine:
    def __init__(self, bus_cfg: Any) -> None:
        self.cfg = bus_cfg
        self.client: AsyncModbusSerialClient | None = None
        self.rx = b""
        self.users: set[int] = set()

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending and data:
            self.rx = bytes(data)
        return data

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    async def acquire(self, user: object) -> bool:
        self.users.add(id(user))
        if self.connected:
            return True
        c = self.cfg
        self.client = AsyncModbusSerialClient(
            c.port or "", framer=FramerType.RTU, baudrate=c.baudrate, bytesize=c.bytesize, parity=c.parity,
            stopbits=c.stopbits, timeout=c.timeout_s, retries=0, reconnect_delay=0, trace_packet=self._trace)
        ok = await self.client.connect()
        if not ok:
            self.client.close()
            self.client = None
        return ok

    def release(self, user: object, force: bool = False) -> None:
        """The last user closes the port; ``force`` closes it now (the port itself failed)."""
        self.users.discard(id(user))
        if (force or not self.users) and self.client is not None:
            self.client.close()
            self.client = None

    def begin(self) -> None:
        self.rx = b""

    def classify_silence(self, table: str, count: int) -> str:
        """Why a request got no usable answer, from the bytes that did arrive."""
        rx = self.rx
        if not rx:
            return "timeout"
        expected = 5 if len(rx) >= 2 and rx[1] & 0x80 else response_bytes(table, count)
        if len(rx) < expected:
            return "short_frame"
        return "timeout" if crc_ok(rx[:expected]) else "crc"
