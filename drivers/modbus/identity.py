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

from drivers.base import DriverError
from drivers.modbus.decode import STRUCT_CODES, WIDTH, registers_to_bytes

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


async def read_identity(client: Any, model: Any, unit_id: int, timeout_s: float) -> dict[str, str] | None:
    """The model's identity values read from the device; None when the model declares none.

    One request per value (identity registers sit far apart, e.g. 0xFC00 vs the measurement
    block). A failed request raises :class:`DriverError` like any read: identity is never guessed.
    """
    ident = getattr(model, "identity", None)
    if ident is None:
        return None
    out: dict[str, str] = {}
    for name in FIELDS:
        reg = getattr(ident, name, None)
        if reg is None:
            continue
        fn = getattr(client, "read_holding_registers" if reg.table == "holding" else "read_input_registers")
        n = width(reg)
        try:
            rr = await asyncio.wait_for(fn(reg.address, count=n, device_id=unit_id), timeout_s)
        except TimeoutError as exc:
            raise DriverError("timeout", f"identity {name}: no answer from unit {unit_id} within {timeout_s}s") from exc
        except Exception as exc:  # noqa: BLE001 - pymodbus raises several kinds; all are an io failure here
            raise DriverError("io", f"identity {name}: {exc}") from exc
        if rr.isError():
            raise DriverError("exception", f"unit {unit_id} answered Modbus exception "
                                           f"{getattr(rr, 'exception_code', None)} for identity {name} "
                                           f"({reg.table} {reg.address}+{n})")
        if len(rr.registers) < n:
            raise DriverError("short_frame", f"identity {name}: asked {n} registers, got {len(rr.registers)}")
        value = decode_identity(list(rr.registers[:n]), reg, model.word_order, model.byte_order)
        if value is not None:
            out[name] = value
    return out
