"""What drivers need to know about a profile, as structural types.

Drivers sit below the gateway (``drivers`` may not import ``gateway``: an import-linter
contract), yet they are configured by the gateway's profile schema. These Protocols name
the attributes a driver reads; the schema's msgspec Structs satisfy them structurally.
``Point`` is a concrete point for drivers whose points are built in (I2C sensors, pulse
inputs, GNSS) rather than read from a register map: it carries the same attributes the
scheduler and indicator engine read from a schema ``PointDef``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class PointSpec(Protocol):
    name: str
    meaning: str
    unit: str
    address: int | None
    table: str
    type: str
    word_order: str | None
    byte_order: str | None
    scale: float
    offset: float
    range: list[float] | None
    stuck_after_s: float | None
    counter: bool
    rollover: float | None


class ModelSpec(Protocol):
    name: str
    word_order: str
    byte_order: str
    max_gap: int
    max_regs: int
    points: Sequence[Any]
    identity: Any  # the schema's Identity (serial/model/firmware registers) or None


class BusSpec(Protocol):
    name: str
    kind: str
    port: str | None
    baudrate: int
    parity: str
    stopbits: int
    bytesize: int
    timeout_s: float
    inter_request_ms: float
    i2c_bus: int


class DeviceSpec(Protocol):
    name: str
    driver: str
    model: str | None
    bus: str | None
    host: str | None
    port: int | None
    unit_id: int
    address: int | None
    poll_interval_s: float
    timeout_s: float
    options: dict[str, Any]
    ranges: dict[str, list[float]]
    sim: dict[str, Any]


@dataclass(frozen=True)
class Point:
    """A built-in point (same attribute names as the schema's PointDef)."""

    name: str
    meaning: str
    unit: str = ""
    range: list[float] | None = None
    stuck_after_s: float | None = None
    counter: bool = False
    rollover: float | None = None
    address: int | None = None
    table: str = "input"
    type: str = "float32"
    word_order: str | None = None
    byte_order: str | None = None
    scale: float = 1.0
    offset: float = 0.0
