"""A loopback RS485 line that takes as long as the real one: a TCP relay paced at the baud rate.

Ptys and sockets deliver a frame at once, so a cycle measured on them says nothing about
a 9600-baud line. This relay sits between a serial client (``socket://127.0.0.1:PORT``)
and an RTU-framed emulator and models the wire: one direction at a time (half duplex),
each frame occupies the line for ``bytes x bits_per_char / baud`` and is delivered when
its last character has arrived, and a new frame may start only t3.5 after the previous
one ended. Everything else (client, framing, emulator turnaround, asyncio) runs for real,
so a measured cycle minus the modelled wire time is the software's own overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from drivers.modbus.bustime import char_time_s, gap_s


@dataclass
class PacedLine:
    upstream_port: int
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    port: int = 0
    frames: int = 0
    wire_s: float = 0.0
    _free_at: float = 0.0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def _transmit(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        char = char_time_s(self.baudrate, self.bytesize, self.parity, self.stopbits)
        start = max(loop.time(), self._free_at)
        end = start + len(data) * char
        self._free_at = end + gap_s(self.baudrate, self.bytesize, self.parity, self.stopbits)
        self.frames += 1
        self.wire_s += len(data) * char
        await asyncio.sleep(max(0.0, end - loop.time()))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                await self._transmit(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        for t in (asyncio.create_task(self._pump(reader, up_w)), asyncio.create_task(self._pump(up_r, writer))):
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def start(self) -> PacedLine:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
