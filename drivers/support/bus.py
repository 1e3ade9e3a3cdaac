"""Shared physical buses: one lock per RS485 line or I2C bus, held per transaction.

Drivers on the same bus receive the same BusHandle. The first driver that needs the
underlying resource (a serial client, an I2C object) creates it and stores it in
``resource``; emulated twins may set it up front.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from drivers.support.types import BusSpec as Bus


@dataclass
class BusHandle:
    cfg: Bus
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    resource: Any = None
    stats: Counter[str] = field(default_factory=Counter)
    # Seconds of bus time used in transactions, for the bus-time budget in status/probe.
    busy_s: float = 0.0
