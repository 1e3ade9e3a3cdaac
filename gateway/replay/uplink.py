"""The replay's uplink: the gateway's own Sender, overlapping the ticks, with a final delivery.

A rejection stops the replay (skipping a batch would break the chain the bank verifies); a
transport failure does not: batches wait in the outbox, as on a live gateway, a later
packing step tries again (not before a backoff of real time: a dead broker costs the MQTT
transport its whole timeout per attempt, and the replay must not crawl at that pace), and
the final delivery retries with backoff before saying how many batches wait (running the
same command again sends them).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path

from gateway.i18n import N_
from gateway.identity import Identity
from gateway.replay.data import ReplayError
from gateway.store import Store
from gateway.uplink.heads import HeadSigner
from gateway.uplink.sender import Sender, UplinkState
from gateway.uplink.transport import Transport, TransportError
from gateway.wire.backoff import Backoff

log = logging.getLogger("edgeproof.replay")
# the final delivery's retries before giving up: 0.5, 1, 2, 4, 8 s
RETRY_DELAYS_S = tuple(itertools.islice(Backoff(0.5, 8.0).delays(), 5))
BACKOFF = Backoff(1.0, 30.0)  # while replaying: real seconds before the first retry, and the most
HEAD_GAP_S = 5.0  # while replaying: real seconds between head statements (a last one after the final delivery)


class ReplayUplink:
    def __init__(self, store: Store, transport: Transport | None, state_dir: Path,
                 retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S, identity: Identity | None = None) -> None:
        self.store = store
        # A replay identity signs head statements like a live gateway (its bodies declare
        # heads_from, so a bank requires them): real-time dated, at most one per HEAD_GAP_S.
        heads = HeadSigner(store, identity, min_gap_s=HEAD_GAP_S) if identity is not None else None
        self.sender = Sender(store, transport, heads=heads) if transport is not None else None
        self.state_dir = state_dir
        self.retry_delays_s = retry_delays_s
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry = BACKOFF.tracker()
        self._retry_at = 0.0  # time.monotonic() before which a packing step does not try again

    @property
    def dest(self) -> str | None:
        return self.sender.dest if self.sender is not None else None

    @property
    def status(self) -> UplinkState | None:
        return self.sender.status if self.sender is not None else None

    def acked(self, default: int) -> int:
        return self.store.acked(self.sender.dest) if self.sender is not None else default

    async def send(self) -> None:
        """Send what the outbox holds; remember a transport failure, raise on a rejection."""
        if self.sender is None:
            return
        try:
            await self.sender.send_pending()
            if self.error is not None:
                log.info("uplink back; sending what waits in the outbox")
            self.error = None
            self._retry.succeeded()
        except TransportError as exc:
            if self.sender.status.state == "rejected":
                raise ReplayError(N_("the receiver rejected the replay: {error}"), error=exc) from exc
            if self.error is None:
                log.warning("uplink failed; batches wait in the outbox", extra={"error": str(exc)})
            self.error = str(exc)
            self._retry_at = time.monotonic() + self._retry.failed()

    async def start(self) -> None:
        """Wait for the previous delivery (its rejection stops the replay here), start the next,
        unless the receiver was unreachable a moment ago (the outbox keeps the batches)."""
        await self.wait()
        if self.error is not None and time.monotonic() < self._retry_at:
            return
        self._task = asyncio.create_task(self.send(), name="replay-uplink")

    async def wait(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await task

    async def deliver(self) -> None:
        """The final delivery, retried with backoff."""
        await self.wait()
        if self.sender is None:
            return
        for delay in (*self.retry_delays_s, None):
            await self.send()
            if self.error is None:
                await self.sender.send_head(force=True)  # the head as the replay ends, whatever the gap
                return
            if delay is not None:
                await asyncio.sleep(delay)
        waiting = self.store.outbox_head() - self.store.acked(self.sender.dest)
        raise ReplayError(N_("{waiting} replayed batches wait in the outbox of {state_dir}: the receiver could not "
                             "be reached ({error}); run the same command again to send them"),
                          waiting=waiting, state_dir=self.state_dir, error=self.error)
