"""A round of receiver work every ``interval`` seconds on a thread of its own (``cloud serve``).

Shared by the periodic analysis and the fleet check: each opens its own database connection
through ``open_rdb`` (a long read never holds the lock ingest's connection uses), and a failed
round is logged while the next still runs on time: one bad round must not stop scoring or the
silence alarm.
"""

from __future__ import annotations

import logging
import threading
from typing import Any


class PeriodicTask:
    """Subclasses implement :meth:`round`; ``rounds`` counts the rounds run (failed ones too)."""

    name = "periodic"

    def __init__(self, open_rdb: Any, interval: float, log: logging.Logger) -> None:
        if interval <= 0:
            raise ValueError(f"{self.name} interval must be > 0 seconds, got {interval}")
        self.open_rdb, self.interval, self.log = open_rdb, interval, log
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

    def _run(self) -> None:
        rdb = self.open_rdb()
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.round(rdb)
                except Exception:  # noqa: BLE001 - logged; the next round still runs
                    self.log.exception(f"{self.name} round failed", extra={"event": f"{self.name}_failed"})
                self.rounds += 1
        finally:
            rdb.close()
