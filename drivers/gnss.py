"""GNSS receiver (NMEA 0183 over a serial port, parsed with pynmea2) reporting a geofence
state, not coordinates: a bank needs to know that pledged goods stayed where they were
pledged, not where they are to the metre, and raw positions never leave the site anyway.

Points:
* ``gnss_fix`` (collateral.gnss_fix): 1 when a valid fix (GGA quality > 0 with enough
  satellites and HDOP under the limit, or RMC status A) arrived within ``fix_max_age_s``;
* ``inside_geofence`` (collateral.inside_geofence): 1 inside the profile's polygon, 0
  outside; with no fix it is a comm_error row, never a guess;
* ``geofence_exits`` (collateral.geofence_exits): a counter of inside -> outside
  transitions, persisted in the state directory so it survives restarts.

A state change needs ``confirm_fixes`` consecutive fixes on the other side (GNSS jitter
at a fence line must not count as exits; GGA and RMC of one epoch are one fix). Every
sentence received since the previous poll is processed in order, so a short excursion
between polls still counts. Sentences with a bad checksum are counted as ``crc`` and skipped; no bytes at all for
``silence_timeout_s`` fails the read (receiver unplugged) while bytes without a fix is
a valid reading (gnss_fix = 0: indoors, antenna covered).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec

from drivers.support.base import Driver, DriverError, ReadResult
from drivers.support.geofence import inside
from drivers.support.messages import N_, Message
from drivers.support.state import CounterState, default_state_dir
from drivers.support.types import BusSpec, DeviceSpec, ModelSpec, Point, PointSpec


class Options(msgspec.Struct, forbid_unknown_fields=True):
    geofence: list[list[float]] = []
    min_sats: int = 4
    max_hdop: float = 5.0
    confirm_fixes: Annotated[int, msgspec.Meta(ge=1)] = 3
    fix_max_age_s: float = 10.0
    silence_timeout_s: float = 5.0
    state_dir: str | None = None


def check_device(device: DeviceSpec, model: ModelSpec | None, bus: BusSpec | None) -> tuple[str, Message] | None:
    if bus is None or bus.kind != "serial":
        return "bus", Message(N_("a declared bus of kind 'serial' (the UART the GNSS receiver is wired to)"))
    fence = device.options.get("geofence")
    if not isinstance(fence, list) or len(fence) < 3:
        return "options.geofence", Message(N_("a polygon of at least 3 [lat, lon] vertices"))
    for i, v in enumerate(fence):
        if (not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, int | float) for x in v)
                or not -90 <= v[0] <= 90 or not -180 <= v[1] <= 180):
            return f"options.geofence[{i}]", Message(N_("[lat, lon] in degrees (found {v})"), {"v": f'{v!r}'})
    return None


class GnssDriver(Driver):
    kind = "gnss"

    def __init__(self, device: DeviceSpec, model: ModelSpec | None, bus: Any, bus_cfg: BusSpec | None) -> None:
        super().__init__(device, model, bus, bus_cfg)
        self.options = msgspec.convert(device.options, Options)
        state_dir = Path(self.options.state_dir) if self.options.state_dir else default_state_dir()
        self.exits_state = CounterState(state_dir / f"gnss-{device.name}.json", "exits")
        self.exits = self.exits_state.saved
        self.serial: Any = None
        self.buffer = b""
        self.inside: bool | None = None
        self.pending = 0
        self.last_fix_at: float | None = None
        self.last_bytes_at: float | None = None
        self.sentences = 0
        self.last_epoch: Any = None

    def points(self) -> list[PointSpec]:
        return [Point(name="gnss_fix", meaning="collateral.gnss_fix", range=[0, 1]),  # type: ignore[list-item]
                Point(name="inside_geofence", meaning="collateral.inside_geofence", range=[0, 1]),
                Point(name="geofence_exits", meaning="collateral.geofence_exits", unit="exits", counter=True,
                      range=[0, 1e9])]

    async def open(self) -> None:
        if self.serial is not None:
            return
        import serial

        cfg = self.bus.cfg
        try:
            self.serial = await asyncio.to_thread(
                serial.serial_for_url, cfg.port, baudrate=cfg.baudrate, bytesize=cfg.bytesize, parity=cfg.parity,
                stopbits=cfg.stopbits, timeout=0)  # non-blocking: take what has arrived
        except (serial.SerialException, ValueError, OSError) as exc:
            raise DriverError("io", N_("cannot open GNSS port {port}: {error}"),
                                    port=f'{cfg.port!r}', error=exc) from exc
        self.last_bytes_at = time.monotonic()

    def _drain(self) -> list[bytes]:
        chunks = []
        for _ in range(64):
            data = self.serial.read(4096)
            if not data:
                break
            chunks.append(data)
        if chunks:
            self.last_bytes_at = time.monotonic()
        self.buffer += b"".join(chunks)
        *lines, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > 4096:  # no newline in 4 KB: not NMEA
            self.buffer = b""
            self.errors["short_frame"] += 1
        return [ln.strip() for ln in lines if ln.strip()]

    def _process(self, line: bytes) -> None:
        import pynmea2

        try:
            msg = pynmea2.parse(line.decode("ascii", "replace"), check=True)
        except pynmea2.ChecksumError:
            self.errors["crc"] += 1
            return
        except pynmea2.ParseError:
            self.errors["short_frame"] += 1
            return
        self.sentences += 1
        kind = getattr(msg, "sentence_type", "")
        if kind == "GGA":
            try:
                ok = (int(msg.gps_qual or 0) > 0 and int(msg.num_sats or 0) >= self.options.min_sats
                      and float(msg.horizontal_dil or 99) <= self.options.max_hdop)
            except ValueError:
                ok = False
        elif kind == "RMC":
            ok = msg.status == "A"
        else:
            return
        if not ok or not msg.lat:
            return
        epoch = getattr(msg, "timestamp", None)
        if epoch is not None and epoch == self.last_epoch:
            return  # GGA and RMC of the same epoch are one fix, not two confirmations
        self.last_epoch = epoch
        self.last_fix_at = time.monotonic()
        now_inside = inside(msg.latitude, msg.longitude, self.options.geofence)
        if self.inside is None:
            self.inside = now_inside
            return
        if now_inside == self.inside:
            self.pending = 0
            return
        self.pending += 1
        if self.pending >= self.options.confirm_fixes:
            if self.inside and not now_inside:
                self.exits += 1
            self.inside = now_inside
            self.pending = 0

    def _read_sync(self) -> None:
        for line in self._drain():
            self._process(line)
        if self.exits != self.exits_state.saved:
            self.exits_state.save(self.exits)

    async def read(self) -> ReadResult:
        await self.open()
        try:
            await asyncio.to_thread(self._read_sync)
        except OSError as exc:
            raise DriverError("io", N_("GNSS port: {error}"), error=exc) from exc
        now = time.monotonic()
        if self.last_bytes_at is not None and now - self.last_bytes_at > self.options.silence_timeout_s:
            raise DriverError("timeout", N_("no NMEA bytes for {value} s"), value=f'{now - self.last_bytes_at:.1f}')
        fix = self.last_fix_at is not None and now - self.last_fix_at <= self.options.fix_max_age_s
        values = {"gnss_fix": 1.0 if fix else 0.0, "geofence_exits": float(self.exits)}
        errors = {}
        if fix and self.inside is not None:
            values["inside_geofence"] = 1.0 if self.inside else 0.0
        else:
            errors["inside_geofence"] = "no valid GNSS fix"
        return ReadResult(values=values, requests=0, errors=errors)

    async def close(self) -> None:
        if self.serial is not None:
            ser, self.serial = self.serial, None
            await asyncio.to_thread(ser.close)


DRIVER = GnssDriver
