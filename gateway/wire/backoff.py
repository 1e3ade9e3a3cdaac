"""One backoff policy for every retry loop of the gateway and the receiver: exponential, capped, jittered,
optionally within a deadline.

Each caller keeps the figures it documents (the uplink 0.5 s doubling to ``[uplink] backoff_max_s`` with ±20 %
jitter; provisioning 10 s doubling to 10 min; alert delivery 30 s doubling to an hour with "equal jitter"; ...),
and this module is the one place that turns them into waits, so a fix to the arithmetic (overflow after many
failures, a jitter that pushed a wait past its deadline) is made once.

It lives in the wire package because retrying is how a gateway talks to the receiver, and because that package
is the one part of the gateway the receiver may import (the import-linter allow-list); like the rest of the
package it needs only the standard library. A well-kept retry library (tenacity, backoff) was considered: both
wrap a function call in a decorator, while these loops are long-lived (the uplink, a device poll, a delivery
row whose next attempt is a time stored in the database) and only need the wait; the arithmetic is a few lines.

Waits are ``min(cap, base * factor ** (n - 1)) * uniform(low, high)`` for the n-th consecutive failure, with
``jitter = (low, high)``: ``(0.8, 1.2)`` spreads ±20 %, ``(0.5, 1.0)`` is "equal jitter" (half fixed, half
random; never more than the cap), ``(1.0, 1.0)`` none.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """The policy: the first wait, the longest, growth per failure, jitter, and an optional deadline (seconds
    from the first failure after which no further wait is offered)."""

    base_s: float
    cap_s: float
    factor: float = 2.0
    jitter: tuple[float, float] = (1.0, 1.0)
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        low, high = self.jitter
        if not (math.isfinite(self.base_s) and self.base_s > 0 and math.isfinite(self.cap_s)
                and self.cap_s >= self.base_s and math.isfinite(self.factor) and self.factor >= 1
                and 0 <= low <= high and math.isfinite(high)):
            raise ValueError(f"backoff needs 0 < base <= cap, factor >= 1 and 0 <= jitter low <= high "
                             f"(base {self.base_s}, cap {self.cap_s}, factor {self.factor}, jitter {self.jitter})")
        if self.deadline_s is not None and not self.deadline_s >= 0:
            raise ValueError(f"backoff deadline must be >= 0 seconds (found {self.deadline_s})")

    def ceiling(self, failures: int) -> float:
        """The wait before jitter after ``failures`` consecutive failures (>= 1): grows to the cap, then stays.
        Never overflows, however many failures (the exponent stops growing once the cap is reached)."""
        n = max(0, failures - 1)
        if self.factor > 1:
            n = min(n, math.ceil(math.log(self.cap_s / self.base_s, self.factor)) + 1)
        return min(self.cap_s, self.base_s * self.factor ** n)

    def delay(self, failures: int, rnd: random.Random | None = None) -> float:
        """The wait after ``failures`` consecutive failures, jittered."""
        low, high = self.jitter
        ceiling = self.ceiling(failures)
        return ceiling if low == high == 1.0 else ceiling * (rnd or random).uniform(low, high)

    def delays(self, rnd: random.Random | None = None,
               clock: Callable[[], float] = time.monotonic) -> Iterator[float]:
        """The waits, one per failure, for a loop that retries until it succeeds. With a deadline the
        iterator ends instead of offering a wait that would end at or after it (the deadline counts from
        this call, on ``clock``)."""
        end = None if self.deadline_s is None else clock() + self.deadline_s
        return self._delays(end, rnd, clock)

    def _delays(self, end: float | None, rnd: random.Random | None, clock: Callable[[], float]) -> Iterator[float]:
        failures = 0
        while True:
            failures += 1
            wait = self.delay(failures, rnd)
            if end is not None and clock() + wait >= end:
                return
            yield wait

    def tracker(self) -> Retrying:
        """A counter of consecutive failures for a long-lived loop (reset on success)."""
        return Retrying(self)


# paho-mqtt reconnects by itself, doubling its wait from a minimum to a maximum (whole seconds): the gateway's
# uplink and the receiver's MQTT ingest hand it this policy's figures.
MQTT_RECONNECT = Backoff(1.0, 30.0)


def paho_reconnect_delays(policy: Backoff = MQTT_RECONNECT) -> dict[str, int]:
    """Keyword arguments of paho's ``Client.reconnect_delay_set`` for a policy (paho takes whole seconds)."""
    return {"min_delay": max(1, round(policy.base_s)), "max_delay": max(1, round(policy.cap_s))}


@dataclass
class Retrying:
    """Consecutive failures of one long-lived loop under a policy: :meth:`failed` gives the next wait,
    :meth:`succeeded` starts again from the first."""

    policy: Backoff
    failures: int = 0
    rnd: random.Random | None = field(default=None, repr=False)

    def failed(self) -> float:
        self.failures += 1
        return self.policy.delay(self.failures, self.rnd)

    def succeeded(self) -> None:
        self.failures = 0
