"""Polling: one asyncio task per device, on its own interval, isolated from the others.

A device that fails backs off exponentially (capped) and is marked unhealthy; the
others keep their cadence because each has its own task and shared buses are
serialised by the bus's own lock, held only for one device's transaction. Ticks are
scheduled on absolute times (no drift): the mean interval stays on nominal.
Readings go to a writer that commits in small batches; only committed readings count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from drivers.support.base import Driver, DriverError, Quality
from gateway.i18n import N_, as_data
from gateway.quality import PointQuality
from gateway.store import PointRow, Store
from gateway.wire.backoff import Backoff

log = logging.getLogger("edgeproof.scheduler")
HEALTH_HISTORY = 256
IDENTITY_INTERVAL_S = 86400.0  # identity registers are re-read daily (and at start, and after a recovery)


@dataclass
class DeviceHealth:
    state: str = "starting"  # starting | healthy | unhealthy
    polls: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_ok: float | None = None
    last_error: str | None = None  # English (logs, JSON consumers)
    # The same as data the status page and `edgeproof status` render in the reader's language (gateway.i18n.as_data).
    last_error_text: object = None
    last_error_at: float | None = None
    last_latency_ms: float | None = None
    next_poll_in_s: float = 0.0
    last_values: dict[str, tuple[float | None, str]] = field(default_factory=dict)
    # The last poll intervals and read latencies, bounded: a long-running gateway keeps a
    # recent picture, not a growing list.
    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=HEALTH_HISTORY))
    # Seconds per successful read, waiting for a shared bus included (bounded like intervals):
    # what a dead unit on the same line costs the others shows here, not in the intervals.
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=HEALTH_HISTORY))
    # Per-unit error counters by kind (timeout, crc, short_frame, exception, io, ...) and
    # bus transactions, for probe and the status data.
    errors: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    # Circuit breaker: open while the unit is failing; it is then tried once per backoff
    # period (one request, so one timeout at most), closed again by a good read.
    breaker_open: bool = False


class ReadingWriter:
    """Buffers rows for at most ``flush_interval_s`` and commits them in one transaction."""

    def __init__(self, store: Store, flush_interval_s: float) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.rows: list[tuple[float, int, float | None, str]] = []
        self.polls: list[tuple[float, str, int, str | None]] = []
        self.committed = 0
        self.dropped = 0
        self.failing: str | None = None

    def add(self, rows: list[tuple[float, int, float | None, str]], poll: tuple[float, str, int, str | None]) -> None:
        self.rows.extend(rows)
        self.polls.append(poll)

    # While the store cannot commit (disk full, I/O error) rows wait in memory, up to this
    # many; beyond it the oldest are dropped and counted, never silently.
    MAX_PENDING = 200_000

    async def flush(self) -> None:
        if not self.rows and not self.polls:
            return
        rows, polls = self.rows, self.polls
        self.rows, self.polls = [], []
        try:
            await asyncio.to_thread(self.store.add_readings, rows, polls)
        except BaseException:
            self.rows, self.polls = rows + self.rows, polls + self.polls
            excess = len(self.rows) - self.MAX_PENDING
            if excess > 0:
                del self.rows[:excess]
                self.dropped += excess
            raise
        self.committed += len(rows)
        if self.dropped:
            try:
                self.store.bump("loss.readings_dropped_unstored", self.dropped)
                self.dropped = 0
            except Exception:  # noqa: BLE001 - counted on the next successful flush
                pass

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
                if self.failing:
                    log.warning("store writable again", extra={"pending_committed": self.committed})
                self.failing = None
            except Exception as exc:  # disk full, I/O error: keep the rows, retry
                if self.failing != str(exc):
                    log.error("store write failed; readings kept in memory and retried",
                              extra={"error": str(exc), "pending": len(self.rows)})
                self.failing = str(exc)
                await asyncio.sleep(1.0)


class DevicePoller:
    def __init__(self, driver: Driver, store: Store, writer: ReadingWriter, backoff_max_s: float = 60.0) -> None:
        self.driver = driver
        self.device = driver.device
        self.writer = writer
        self.health = DeviceHealth()
        self.backoff_max_s = backoff_max_s
        cap = min(backoff_max_s, self.device.poll_interval_s * 2 ** 10)
        self.backoff = Backoff(min(self.device.poll_interval_s, cap), cap, jitter=(0.9, 1.1))
        self.point_rows: dict[str, PointRow] = {}
        self.qualities: dict[str, PointQuality] = {}
        for p in driver.points():
            self.point_rows[p.name] = store.point(self.device.name, p.name, p.meaning, p.unit)
            self.qualities[p.name] = PointQuality(p, self.device.ranges.get(p.name))
        self.errors: Counter[str] = driver.errors
        # The unit's identity (serial/model/firmware) as last read, when it was read, and whether a read
        # is due: at start, after the device recovers (a swapped meter was off the line) and daily.
        self.identity: dict[str, str] | None = None
        self.identity_at: float | None = None
        self.identity_due = True
        self.identity_interval_s = IDENTITY_INTERVAL_S

    async def poll_once(self) -> bool:
        try:
            return await self._poll_once()
        finally:
            self.health.errors = dict(self.errors)
            self.health.requests = self.driver.requests
            self.health.breaker_open = self.health.consecutive_failures > 0

    async def _poll_once(self) -> bool:
        ts = time.time()
        h = self.health
        h.polls += 1
        try:
            # wait_for keeps the read in its own task (see drivers/modbus/device.py read_map).
            result = await asyncio.wait_for(self.driver.timed_read(), self.device.timeout_s * 4 + 1)
        except (DriverError, TimeoutError, OSError) as exc:
            kind = exc.kind if isinstance(exc, DriverError) else ("timeout" if isinstance(exc, TimeoutError) else "io")
            if not isinstance(exc, DriverError):
                self.errors[kind] += 1
            h.failures += 1
            h.consecutive_failures += 1
            h.last_error, h.last_error_at = f"{kind}: {exc}", ts
            h.last_error_text = as_data(exc) if isinstance(exc, DriverError) else as_data(
                DriverError(kind, N_("{error}"), error=exc))
            if h.state != "unhealthy":
                log.warning("device unhealthy", extra={"device": self.device.name, "error": str(exc)})
            h.state = "unhealthy"
            rows = [(ts, pr.id, None, Quality.COMM_ERROR) for pr in self.point_rows.values()]
            for name in self.point_rows:
                h.last_values[name] = (None, Quality.COMM_ERROR)
            self.writer.add(rows, (ts, self.device.name, 0, kind))
            try:
                await self.driver.close()
            except Exception:  # noqa: BLE001 - closing a broken link must not kill the poller
                pass
            return False
        rows = []
        for name, value in result.values.items():
            pr = self.point_rows.get(name)
            if pr is None:
                continue
            q = self.qualities[name].classify(ts, value)
            rows.append((ts, pr.id, value, q))
            h.last_values[name] = (value, q)
        for name in result.errors:
            pr = self.point_rows.get(name)
            if pr is not None:
                rows.append((ts, pr.id, None, Quality.COMM_ERROR))
                h.last_values[name] = (None, Quality.COMM_ERROR)
        if h.state == "unhealthy":
            log.info("device recovered", extra={"device": self.device.name})
            self.identity_due = True
        h.state = "healthy"
        h.consecutive_failures = 0
        h.last_ok = ts
        h.last_latency_ms = result.latency_s * 1000
        h.latencies.append(result.latency_s)
        self.writer.add(rows, (ts, self.device.name, 1, None))
        if self.identity_due or (self.identity_at is not None and ts - self.identity_at >= self.identity_interval_s):
            await self._identify(ts)
        return True

    async def _identify(self, ts: float) -> None:
        """Read the unit's identity registers after a good read (never instead of one). A failed identity
        read is logged and retried on the next poll; it does not make the device unhealthy."""
        try:
            ident = await asyncio.wait_for(self.driver.identify(), self.device.timeout_s * 4 + 1)
        except (DriverError, TimeoutError, OSError) as exc:
            log.warning("identity read failed; retried next poll", extra={"device": self.device.name,
                                                                         "error": str(exc)})
            return
        self.identity, self.identity_at, self.identity_due = ident, ts, False

    def delay_after_failure(self) -> float:
        """The wait before polling a failing device again: its poll interval doubling per consecutive failure,
        at most 1024 intervals and ``backoff_max_s``, ±10 % so devices that failed together drift apart."""
        return self.backoff.delay(self.health.consecutive_failures)

    async def run(self) -> None:
        interval = self.device.poll_interval_s
        loop = asyncio.get_running_loop()
        due = loop.time()
        last_start: float | None = None
        while True:
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            start = loop.time()
            if last_start is not None:
                self.health.intervals.append(start - last_start)
            last_start = start
            ok = await self.poll_once()
            if ok:
                due += interval
                if due < loop.time():  # overran: skip missed ticks instead of bursting
                    due += interval * int((loop.time() - due) / interval + 1)
            else:
                due = loop.time() + self.delay_after_failure()
            self.health.next_poll_in_s = max(0.0, due - loop.time())


class Scheduler:
    def __init__(self, drivers: list[Driver], store: Store, flush_interval_s: float = 0.25) -> None:
        self.store = store
        self.writer = ReadingWriter(store, flush_interval_s)
        self.pollers = [DevicePoller(d, store, self.writer) for d in drivers]
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self.writer.run(), name="writer")]
        for p in self.pollers:
            self._tasks.append(asyncio.create_task(_guard(p), name=f"poll:{p.device.name}"))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        await self.writer.flush()
        for p in self.pollers:
            try:
                await p.driver.close()
            except Exception:  # noqa: BLE001
                pass


async def cancel_and_wait(tasks: list[asyncio.Task[Any]], attempts: int = 20) -> None:
    """Cancel tasks and wait until they are done, cancelling again if one carries on.

    On Python 3.11 asyncio.wait_for (used inside pymodbus and elsewhere) can swallow a
    cancellation that races with a result; one cancel() is then lost and a plain gather()
    waits forever. Seen as a rare hang of a stop in tests."""
    pending = {t for t in tasks if not t.done()}
    for _ in range(attempts):
        if not pending:
            break
        for t in pending:
            t.cancel()
        _done, pending = await asyncio.wait(pending, timeout=0.5)
    if not pending:
        await asyncio.gather(*tasks, return_exceptions=True)  # collect results: no "never retrieved"
    else:
        log.error("tasks did not stop", extra={"tasks": [t.get_name() for t in pending]})


async def _guard(poller: DevicePoller) -> None:
    """An unexpected exception in one device's task restarts that task, never stops polling
    (ThingsBoard GW #2132: polling silently died after an unhandled exception)."""
    while True:
        try:
            await poller.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("poller crashed; restarting", extra={"device": poller.device.name, "error": str(exc)})
            poller.health.state = "unhealthy"
            poller.health.last_error = f"internal: {exc}"
            poller.health.last_error_text = as_data(DriverError("internal", N_("{error}"), error=exc))
            await asyncio.sleep(1.0)
