"""GNSS twin: an NMEA 0183 stream (GGA + RMC with valid checksums, built with pynmea2).

In simulate mode the stream is served on a loopback TCP port and the GNSS bus's port
becomes ``socket://127.0.0.1:PORT`` (pyserial opens it like a UART); tests write the
same sentences into a socat pty. The track keeps the pallet near the centre of its
geofence with ~1 m of jitter; ``excursion_period_s``/``excursion_s`` move it outside
the fence for a while (a diversion), ``no_fix`` reports quality 0 (antenna covered),
``corrupt_every`` breaks every Nth checksum.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pynmea2

from drivers.gnss import Options
from drivers.support.bus import BusHandle
from drivers.support.types import DeviceSpec, ModelSpec


def _dm(value: float, lat: bool) -> tuple[str, str]:
    hemi = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    value = abs(value)
    deg = int(value)
    minutes = (value - deg) * 60
    return (f"{deg:02d}{minutes:07.4f}" if lat else f"{deg:03d}{minutes:07.4f}"), hemi


def fix_sentences(lat: float, lon: float, when: float | None = None, fix: bool = True, sats: int = 8,
                  hdop: float = 0.9) -> list[str]:
    """GGA and RMC for one position, as a receiver prints them once per second."""
    when = time.time() if when is None else when
    t = time.gmtime(when)
    hms = time.strftime("%H%M%S", t) + f".{int(when % 1 * 100):02d}"
    dmy = time.strftime("%d%m%y", t)
    la, ns = _dm(lat, True)
    lo, ew = _dm(lon, False)
    gga = pynmea2.GGA("GP", "GGA", (hms, la, ns, lo, ew, "1" if fix else "0", f"{sats:02d}", f"{hdop:.1f}",
                                    "12.0", "M", "8.0", "M", "", ""))
    rmc = pynmea2.RMC("GP", "RMC", (hms, "A" if fix else "V", la, ns, lo, ew, "0.0", "0.0", dmy, "", "", "A"))
    return [str(gga), str(rmc)]


def corrupt(sentence: str) -> str:
    """Flip the checksum's last digit: what a noisy line does to one sentence."""
    last = sentence[-1]
    return sentence[:-1] + ("0" if last != "0" else "1")


class NmeaTrack:
    def __init__(self, fence: list[list[float]], params: dict[str, Any], seed: int = 1) -> None:
        self.fence = fence
        self.params = params
        self.rng = random.Random(seed)
        self.center = (sum(v[0] for v in fence) / len(fence), sum(v[1] for v in fence) / len(fence))
        self.outside = (self.center[0], max(v[1] for v in fence) + 0.002)
        self.count = 0

    def sentences(self, now: float) -> list[str]:
        p = self.params
        lat, lon = self.center
        period, dur = p.get("excursion_period_s"), p.get("excursion_s")
        if period and dur and (now % float(period)) < float(dur):
            lat, lon = self.outside
        lat += self.rng.gauss(0, 0.00001)
        lon += self.rng.gauss(0, 0.00001)
        out = fix_sentences(lat, lon, now, fix=not p.get("no_fix", False))
        every = int(p.get("corrupt_every", 0) or 0)
        result = []
        for s in out:
            self.count += 1
            result.append(corrupt(s) if every and self.count % every == 0 else s)
        return result


class NmeaServer:
    """Streams a track's sentences to every TCP client at ``rate_hz``."""

    def __init__(self, source: Callable[[float], list[str]], rate_hz: float = 1.0) -> None:
        self.source = source
        self.rate_hz = rate_hz
        self.server: asyncio.Server | None = None
        self.port = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            while True:
                writer.write("".join(s + "\r\n" for s in self.source(time.time())).encode())
                await writer.drain()
                await asyncio.sleep(1.0 / self.rate_hz)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            if task is not None:
                self.tasks.discard(task)

    async def start(self) -> NmeaServer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)
            self.server = None


async def start_twins(items: list[tuple[DeviceSpec, ModelSpec | None]], buses: dict[str, BusHandle]
                      ) -> tuple[dict[str, DeviceSpec], list[Any], list[Any]]:
    import tempfile

    overrides: dict[str, DeviceSpec] = {}
    stoppers, servers = [], []
    for dev, _ in items:
        opts = msgspec.convert(dev.options, Options)
        track = NmeaTrack(opts.geofence, dict(dev.sim), seed=sum(dev.name.encode()))
        srv = await NmeaServer(track.sentences, float(dev.sim.get("rate_hz", 1.0))).start()
        handle = buses[dev.bus or ""]
        handle.cfg = msgspec.structs.replace(handle.cfg, port=f"socket://127.0.0.1:{srv.port}")
        if opts.state_dir is None:
            overrides[dev.name] = msgspec.structs.replace(
                dev, options={**dev.options, "state_dir": tempfile.mkdtemp(prefix="edgeproof-twin-gnss-")})
        stoppers.append(srv.stop)
        servers.append(srv)
    return overrides, stoppers, servers
