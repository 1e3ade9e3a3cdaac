"""Sensirion / Aosong CRC-8 (poly 0x31, init 0xFF): SHT3x words and the AHT20 frame.

Datasheet check value: crc8(b"\\xbe\\xef") == 0x92.
"""

from __future__ import annotations


def crc8(data: bytes | bytearray) -> int:
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) if crc & 0x80 else (crc << 1)
            crc &= 0xFF
    return crc
