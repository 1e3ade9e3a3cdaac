"""Window lengths ('15m', '1h') and their epoch-aligned boundaries."""

from __future__ import annotations

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    return int(text[:-1]) * _UNITS[text[-1]]


def window_start(ts: float, length: int) -> int:
    return int(ts // length * length)
