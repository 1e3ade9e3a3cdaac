"""Reading a Modbus device's identity registers (serial number, model code, firmware version).

A register map may declare ``[identity]`` (gateway/profile/schema.py ``Identity``): where the
device keeps values that tell one physical unit from another. They are read at start, after a
recovery (a swapped meter is usually a meter that was off the line for a while) and daily, never
on every poll: they cost bus time and do not change while the same meter is installed.

Values come back as short strings (an integer's decimal digits, or trimmed ASCII) so a serial
compares the same on the gateway and at the receiver whatever its register type.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from drivers.modbus.decode import STRUCT_CODES, WIDTH, registers_to_bytes
from drivers.support.base import DriverError
from drivers.support.messages import N_

FIELDS = ("serial", "model", "firmware")
MAX_LEN = 64  # longest identity string kept (a 32-register ASCII field)


def width(reg: Any) -> int:
    """Registers one identity value occupies."""
    return int(reg.count or 8) if reg.type == "ascii" else WIDTH[reg.type]


def decode_identity(regs: list[int], reg: Any, word_order: str, byte_order: str) -> str | None:
    """One identity value as a string; None when the device reports nothing usable (all zero / blank)."""
    if reg.type == "ascii":
        raw = b"".join(bytes(((w >> 8) & 0xFF, w & 0xFF)) if (reg.byte_order or byte_order) == "big"
                       else bytes((w & 0xFF, (w >> 8) & 0xFF)) for w in regs)
        text = raw.decode("ascii", "replace").replace("\x00", " ").strip()
        text = "".join(c if c.isprintable() else "?" for c in text)
        return text[:MAX_LEN] or None
    value = struct.unpack(">" + STRUCT_CODES[reg.type],
                          registers_to_bytes(regs, reg.word_order or word_order, reg.byte_order or byte_order))[0]
    return str(value) if value != 0 else None  # 0: no serial programmed, not a serial shared by every blank unit


IdentityRequest = tuple[str, int, int, list[tuple[str, Any]]]  # table, start, count, [(field, reg)]


def plan_identity(ident: Any, max_gap: int = 8, max_regs: int = 64) -> list[IdentityRequest]:
    """Requests for the declared identity values: (table, start, count, [(field, reg)]); values of one
    table at most ``max_gap`` registers apart share a request (an Eastron's serial and meter code: one)."""
    regs = sorted(((getattr(ident, f), f) for f in FIELDS if getattr(ident, f, None) is not None),
                  key=lambda x: (x[0].table, x[0].address))
    out: list[IdentityRequest] = []
    for reg, name in regs:
        end = reg.address + width(reg)
        if out and out[-1][0] == reg.table and reg.address - (out[-1][1] + out[-1][2]) <= max_gap \
                and end - out[-1][1] <= max_regs:
            table, first, count, members = out[-1]
            out[-1] = (table, first, max(count, end - first), [*members, (name, reg)])
        else:
            out.append((reg.table, reg.address, width(reg), [(name, reg)]))
    return out


async def read_identity(client: Any, model: Any, unit_id: int, timeout_s: float) -> dict[str, str] | None:
    """The model's identity values read from the device; None when the model declares none.

    Identity registers sit far from the measurements (e.g. 0xFC00), so they get requests of their
    own (:func:`plan_identity`). A failed request raises :class:`DriverError` like any read:
    identity is never guessed.
    """
    ident = getattr(model, "identity", None)
    if ident is None:
        return None
    out: dict[str, str] = {}
    for table, first, n, members in plan_identity(ident):
        fn = getattr(client, "read_holding_registers" if table == "holding" else "read_input_registers")
        what = "/".join(name for name, _ in members)
        try:
            rr = await asyncio.wait_for(fn(first, count=n, device_id=unit_id), timeout_s)
        except TimeoutError as exc:
            raise DriverError("timeout", N_("identity {what}: no answer from unit {unit_id} within {timeout_s}s"),
                                         what=what, unit_id=unit_id, timeout_s=timeout_s) from exc
        except Exception as exc:  # noqa: BLE001 - pymodbus raises several kinds; all are an io failure here
            raise DriverError("io", N_("identity {what}: {error}"), what=what, error=exc) from exc
        if rr.isError():
            raise DriverError("exception", N_("unit {unit_id} answered Modbus exception {value} for identity {what} "
                                              "({table} {first}+{n})"),
                                           unit_id=unit_id, value=getattr(rr, 'exception_code', None), what=what,
                                           table=table, first=first, n=n)
        if len(rr.registers) < n:
            raise DriverError("short_frame", N_("identity {what}: asked {n} registers, got {n_registers}"),
                                             what=what, n=n, n_registers=len(rr.registers))
        for name, reg in members:
            off = reg.address - first
            value = decode_identity(list(rr.registers[off:off + width(reg)]), reg, model.word_order,
                                    model.byte_order)
            if value is not None:
                out[name] = value
    return out
