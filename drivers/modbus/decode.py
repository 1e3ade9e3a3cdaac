"""Register decoding: data types, the four word/byte orders, scale and offset.

Done here rather than with pymodbus's convert_from_registers because meters in the
field use all four combinations of word and byte order (ABCD, CDAB, BADC, DCBA), and
pymodbus only offers word order.
"""

from __future__ import annotations

import struct

WIDTH = {"int16": 1, "uint16": 1, "bool": 1, "int32": 2, "uint32": 2, "float32": 2,
         "int64": 4, "uint64": 4, "float64": 4}
STRUCT_CODES = {"int16": "h", "uint16": "H", "bool": "H", "int32": "i", "uint32": "I", "float32": "f",
        "int64": "q", "uint64": "Q", "float64": "d"}


def registers_to_bytes(regs: list[int], word_order: str, byte_order: str) -> bytes:
    """Arrange 16-bit registers into big-endian bytes of the value."""
    words = regs if word_order == "big" else list(reversed(regs))
    out = bytearray()
    for w in words:
        hi, lo = (w >> 8) & 0xFF, w & 0xFF
        out += bytes((hi, lo)) if byte_order == "big" else bytes((lo, hi))
    return bytes(out)


def decode(regs: list[int], dtype: str, word_order: str = "big", byte_order: str = "big",
           scale: float = 1.0, offset: float = 0.0) -> float:
    raw = struct.unpack(">" + STRUCT_CODES[dtype], registers_to_bytes(regs, word_order, byte_order))[0]
    if dtype == "bool":
        return 1.0 if raw else 0.0
    return raw * scale + offset


def encode(value: float, dtype: str, word_order: str = "big", byte_order: str = "big",
           scale: float = 1.0, offset: float = 0.0) -> list[int]:
    """Inverse of decode, for emulators: engineering value -> registers as the device stores them."""
    raw = (value - offset) / scale
    if dtype not in ("float32", "float64"):
        raw = int(round(raw))
    data = struct.pack(">" + STRUCT_CODES[dtype], raw)
    words = []
    for i in range(0, len(data), 2):
        hi, lo = data[i], data[i + 1]
        words.append((hi << 8 | lo) if byte_order == "big" else (lo << 8 | hi))
    return words if word_order == "big" else list(reversed(words))
