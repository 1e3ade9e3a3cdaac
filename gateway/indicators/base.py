"""The one indicator interface.

An indicator is a plain function of one closed time window of one asset (a press with
its meter and cycle counter, a room, a pallet stack). It gets every series the asset's
devices produced in that window, keyed by *meaning* (``energy.total_kwh``,
``env.temp_c``, ...), and returns values with a unit, quality flags and its definition
version. A new indicator is a new module in ``gateway/indicators/`` decorated with
``@register``; nothing else is edited.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

GOOD_QUALITIES = frozenset({"good"})


@dataclass(frozen=True)
class Series:
    """Readings of one meaning in one window, oldest first, all qualities kept."""

    ts: list[float]
    values: list[float | None]
    quality: list[str]
    # The last good reading before the window (ts, value): counters need it to count the
    # energy used between the previous window's last reading and this window's first.
    before: tuple[float, float] | None = None
    counter: bool = False
    rollover: float | None = None
    # The first good reading at or after the window's end (ts, value): a counter's increase
    # between the window's last reading and that one is partly this window's (apportioned by
    # time, see counters.counter_window). None when it has not arrived (yet).
    after: tuple[float, float] | None = None
    # The device's poll interval (s): a longer silence than a few of these is a gap.
    poll_s: float | None = None

    def good(self) -> list[tuple[float, float]]:
        return [(t, v) for t, v, q in zip(self.ts, self.values, self.quality, strict=True)
                if v is not None and q in GOOD_QUALITIES]

    def usable(self) -> list[tuple[float, float]]:
        """Good and stale values (a stale value is real but suspicious); not errors or out-of-range."""
        return [(t, v) for t, v, q in zip(self.ts, self.values, self.quality, strict=True)
                if v is not None and q in ("good", "stale")]


@dataclass(frozen=True)
class DeviceWindow:
    """What one device delivered in the window, for coverage and loss indicators."""

    name: str
    poll_interval_s: float
    expected_polls: int
    good_polls: int
    error_polls: int
    points: int


@dataclass
class WindowContext:
    asset: str
    start: float
    length: float
    series: dict[str, Series]
    devices: list[DeviceWindow]
    params: dict[str, Any] = field(default_factory=dict)
    profile: Any = None
    store: Any = None  # read-only access for sources outside readings (MES/ERP rows)
    # meaning -> {point name: series}, for devices with several points of one meaning
    # (``series`` holds the first of them).
    series_by_point: dict[str, dict[str, Series]] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + self.length


@dataclass
class IndicatorValue:
    name: str
    subject: str
    value: float | None
    unit: str
    quality: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


class Indicator(ABC):
    """Subclass, set the class attributes, implement compute(), decorate with @register."""

    name: ClassVar[str]
    category: ClassVar[str]  # consent is granted per category: energy, machine, env, ...
    unit: ClassVar[str]
    version: ClassVar[int] = 1
    # Meanings the asset must provide (all of them) for this indicator to be computed.
    requires: ClassVar[tuple[str, ...]] = ()
    # Alternatively: any one of these meanings suffices.
    requires_any: ClassVar[tuple[str, ...]] = ()
    # Meanings read when present, without being required (loaded ahead with the others).
    reads: ClassVar[tuple[str, ...]] = ()

    def applies(self, ctx: WindowContext) -> bool:
        if self.requires and not all(m in ctx.series for m in self.requires):
            return False
        return not (self.requires_any and not any(m in ctx.series for m in self.requires_any))

    @abstractmethod
    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        """Return zero or more values (usually one, subject = ctx.asset)."""

    def value(self, ctx: WindowContext, value: float | None, quality: list[str] | None = None,
              subject: str | None = None, **detail: Any) -> IndicatorValue:
        return IndicatorValue(self.name, subject or ctx.asset, value, self.unit, list(quality or []), detail)


# The flag (beside ``no_data``) and ``detail.reason`` of a window whose computation raised.
COMPUTATION_FAILED = "computation_failed"


def failed_value(ind: Indicator, subject: str, exc: BaseException) -> IndicatorValue:
    """The window of an indicator whose computation raised: not observed (null, ``no_data``)
    with the reason, so the bank sees why the value is missing instead of a silent gap. Only
    the exception's type leaves the site; its message (which may quote raw data) stays in
    the gateway's log."""
    return IndicatorValue(ind.name, subject, None, ind.unit, ["no_data", COMPUTATION_FAILED],
                          {"reason": COMPUTATION_FAILED, "error": type(exc).__name__})
