"""Wire time of Modbus RTU requests: what a poll plan costs on an RS485 line.

Used at profile load (do the configured poll periods fit the line?), by ``probe`` and
by the benches, so the budget and the measurement use one formula:

* one character = 1 start bit + data bits + 1 parity bit (if any) + stop bits
  (8N1 = 10 bits, 8E1 = 11 bits, 8N2 = 11 bits; the Modbus spec's "11 bits" assumes parity
  or two stop bits);
* a read request frame is 8 bytes (unit, function, start, count, CRC);
* a read-registers response is 5 + 2*N bytes (unit, function, byte count, data, CRC);
  a read-bits response is 5 + ceil(N/8) bytes;
* every frame is followed by the t3.5 silent interval (3.5 characters; fixed at 1.75 ms
  above 19200 baud, as the spec allows);
* plus ``inter_request_ms`` of quiet time some slaves need (a field workaround).

The slave's own response latency (typically a few ms, up to ~50 ms for cheap meters) is
not wire time and is not included; the bus check keeps headroom for one timeout instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from drivers.support.messages import N_, Message

REQUEST_BYTES = 8


def bits_per_char(bytesize: int = 8, parity: str = "N", stopbits: int = 1) -> int:
    return 1 + bytesize + (0 if parity == "N" else 1) + stopbits


def char_time_s(baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: int = 1) -> float:
    return bits_per_char(bytesize, parity, stopbits) / baudrate


def gap_s(baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: int = 1) -> float:
    """The t3.5 inter-frame silence."""
    if baudrate > 19200:
        return 0.00175
    return 3.5 * char_time_s(baudrate, bytesize, parity, stopbits)


def response_bytes(table: str, count: int) -> int:
    if table in ("coil", "discrete"):
        return 5 + math.ceil(count / 8)
    return 5 + 2 * count


def request_wire_s(table: str, count: int, baudrate: int, bytesize: int = 8, parity: str = "N",
                   stopbits: int = 1) -> float:
    """One request and its response, each followed by t3.5."""
    ct = char_time_s(baudrate, bytesize, parity, stopbits)
    return (REQUEST_BYTES + response_bytes(table, count)) * ct + 2 * gap_s(baudrate, bytesize, parity, stopbits)


def plan_wire_s(requests: Iterable[Any], bus: Any) -> float:
    """Wire time of one poll of a device: its coalesced requests plus inter-request quiet time."""
    total = 0.0
    for r in requests:
        total += request_wire_s(r.table, r.count, bus.baudrate, bus.bytesize, bus.parity, bus.stopbits)
        total += bus.inter_request_ms / 1000.0
    return total


def budget_problem(bus: Any, loads: list[tuple[str, float, float]]) -> Message | None:
    """Do the polls on one line fit it? ``loads``: (device, wire seconds per poll, poll interval).

    The line must carry every device's polls (utilisation = sum of wire time / interval)
    and still have room for one timeout per shortest cycle (a dead unit costs at most one
    timeout per cycle). Returns what the installer must change, or None if it fits.
    """
    if not loads:
        return None
    shortest = min(interval for _, _, interval in loads)
    utilisation = sum(wire / interval for _, wire, interval in loads)
    reserve = bus.timeout_s / shortest
    if utilisation + reserve <= 1.0:
        return None
    need = sum(wire for _, wire, _ in loads) + bus.timeout_s
    fmt = f"{bus.bytesize}{bus.parity}{bus.stopbits}"
    worst = max(loads, key=lambda x: x[1] / x[2])
    return Message(N_("poll intervals that fit serial bus {bus} at {baudrate} baud {fmt} ({bits} bits/char): its "
                      "{n} device(s) need {utilisation}% of the line plus {reserve}% reserved for one {timeout} s "
                      "timeout per {shortest} s cycle (max 100%); the heaviest is {worst} ({wire_ms} ms of wire time "
                      "every {interval} s). Poll every >= {need} s, or raise the baudrate"),
                   {"bus": repr(bus.name), "baudrate": bus.baudrate, "fmt": fmt,
                    "bits": bits_per_char(bus.bytesize, bus.parity, bus.stopbits), "n": len(loads),
                    "utilisation": f"{utilisation * 100:.0f}", "reserve": f"{reserve * 100:.0f}",
                    "timeout": f"{bus.timeout_s:g}", "shortest": f"{shortest:g}", "worst": repr(worst[0]),
                    "wire_ms": f"{worst[1] * 1000:.0f}", "interval": f"{worst[2]:g}", "need": f"{need:.2f}"})
