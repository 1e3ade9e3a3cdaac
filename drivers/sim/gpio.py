"""An emulated GPIO header: pulse trains with contact bounce, levels, and an HX711.

The bank stands in for Blinka's pins (``pin(name)`` -> object with ``value``), so the
real pulse, digital_in and hx711 drivers run unchanged: their sampler thread, debounce
and bit-banging all happen against these pins.

* ``PulseTrainPin``: pulses at a (possibly varying) rate, each edge followed by
  ``bounce_s`` of chatter (toggling every 0.3 ms) as a reed contact does; ``emitted``
  counts pulses started, the truth a test compares the driver against.
* ``LevelPin``: a level from a callable (machine running) or set by a test.
* ``Hx711``: the chip's two-wire protocol: DOUT low when a conversion is ready, 24
  clocked bits MSB first, 1-3 extra clocks select the next gain, DOUT high until the
  next conversion (``sps`` conversions per second: 10 or 80 on the real chip).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any


class EmulatedPins:
    def __init__(self) -> None:
        self.pins: dict[str, Any] = {}

    def add(self, name: str, pin: Any) -> Any:
        self.pins[name] = pin
        return pin

    def pin(self, name: str, output: bool = False, pull_up: bool | None = None) -> Any:
        if name not in self.pins:
            raise OSError(f"no emulated pin {name!r}")
        return self.pins[name]


class LevelPin:
    def __init__(self, fn: Callable[[], bool] | None = None, value: bool = False) -> None:
        self.fn = fn
        self._value = value

    @property
    def value(self) -> bool:
        return bool(self.fn()) if self.fn is not None else self._value

    @value.setter
    def value(self, v: bool) -> None:
        self.fn = None
        self._value = bool(v)


class PulseTrainPin:
    def __init__(self, rate_hz: float | Callable[[], float], width_s: float = 0.02, bounce_s: float = 0.002,
                 active_low: bool = True) -> None:
        self.rate = rate_hz if callable(rate_hz) else (lambda r=float(rate_hz): r)
        self.width_s = width_s
        self.bounce_s = bounce_s
        self.active_low = active_low
        self.phase = 0.0
        self.emitted = 0
        self._last: float | None = None
        self._since = -math.inf
        self._rate_cache = (0.0, -math.inf)
        self._lock = threading.Lock()

    def _rate(self, now: float) -> float:
        r, at = self._rate_cache
        if now - at > 0.2:
            r = max(0.0, float(self.rate()))
            self._rate_cache = (r, now)
        return r

    @property
    def value(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._last is None:
                self._last = now
            r = self._rate(now)
            self.phase += r * (now - self._last)
            self._last = now
            if math.floor(self.phase) > self.emitted:
                self.emitted = math.floor(self.phase)
                self._since = now
            width = min(self.width_s, 0.4 / r) if r > 0 else self.width_s
            dt = now - self._since
            active = dt < width
            if dt < self.bounce_s or 0 <= dt - width < self.bounce_s:
                active = int(dt / 0.0003) % 2 == 0
            return (not active) if self.active_low else active


class _Dout:
    def __init__(self, chip: Hx711) -> None:
        self.chip = chip

    @property
    def value(self) -> bool:
        return self.chip.dout_level()


class _Sck:
    def __init__(self, chip: Hx711) -> None:
        self.chip = chip
        self._v = False

    @property
    def value(self) -> bool:
        return self._v

    @value.setter
    def value(self, v: bool) -> None:
        v = bool(v)
        if v and not self._v:
            self.chip.rising_edge()
        self._v = v


class Hx711:
    def __init__(self, raw_fn: Callable[[], int], sps: float = 80.0) -> None:
        self.raw_fn = raw_fn
        self.sps = sps
        self.dout = _Dout(self)
        self.sck = _Sck(self)
        self.clock = 0
        self.word = 0
        self.ready_at = time.monotonic() + 1.0 / sps
        self.conversions = 0
        self.gain_pulses = 1

    def dout_level(self) -> bool:
        if 1 <= self.clock <= 24:
            return bool(self.word >> (24 - self.clock) & 1)
        return time.monotonic() < self.ready_at  # high until the next conversion is ready

    def rising_edge(self) -> None:
        if self.clock >= 25 and time.monotonic() >= self.ready_at:
            self.clock = 0
        if self.clock == 0:
            if time.monotonic() < self.ready_at:
                return  # clocking a chip that is not ready: ignored
            self.word = int(self.raw_fn()) & 0xFFFFFF
            self.conversions += 1
        self.clock += 1
        if self.clock == 25:
            self.ready_at = time.monotonic() + 1.0 / self.sps
        if self.clock >= 25:
            self.gain_pulses = self.clock - 24
