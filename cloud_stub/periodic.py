"""A round of receiver work every ``interval`` seconds on a thread of its own (``cloud serve``).

The one periodic loop of the receiver, shared by the periodic analysis, the fleet check and alert delivery
(cloud_stub/outbox.py). Each round runs on the task's thread, never on a request's, so a slow round (a
channel that hangs until its timeout) cannot slow ingest. The analysis and the fleet check open their own
database connection through ``open_rdb`` (a long read never holds the lock ingest's connection uses). A failed
round is logged while the next still runs on time: one bad round must not stop scoring, the silence alarm or
the delivery of the next alert.
"""

from __future__ import annotations

import logging
import threading
from typing import Any


class PeriodicTask:
    """Subclasses implement :meth:`round`; ``rounds`` counts the rounds run (failed ones too)."""

    name = "periodic"
    failed_event: str | None = None  # the log event of a failed round; default ``<name>_failed``

    def __init__(self, open_rdb: Any, interval: float, log: logging.Logger, *, first_round_now: bool = False,
                 close_rdb: bool = True) -> None:
        """``first_round_now``: run a round as soon as the thread starts, then every ``interval`` (else the
        first waits an interval). ``close_rdb``: the connection ``open_rdb`` returns is the task's own, closed
        when it stops (False when it is shared, e.g. the server's)."""
        if interval <= 0:
            raise ValueError(f"{self.name} interval must be > 0 seconds, got {interval}")
        self.open_rdb, self.interval, self.log = open_rdb, interval, log
        self.first_round_now, self.close_rdb = first_round_now, close_rdb
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def round(self, rdb: Any) -> None:
        raise NotImplementedError

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`stop` is called: a long round checks it to give its remaining work back."""
        return self._stop

    def _one(self, rdb: Any) -> None:
        try:
            self.round(rdb)
        except Exception:  # noqa: BLE001 - logged; the next round still runs
            self.log.exception(f"{self.name} round failed", extra={"event": self.failed_event or f"{self.name}_failed"})
        self.rounds += 1

    def _run(self) -> None:
        rdb = self.open_rdb()
        try:
            if self.first_round_now and not self._stop.is_set():
                self._one(rdb)
            while not self._stop.wait(self.interval):
                self._one(rdb)
        finally:
            if self.close_rdb:
                rdb.close()
