"""Sending the outbox in order until each batch is acknowledged, after any outage.

The acknowledged position is per destination and only moves forward on an
'accepted' or 'duplicate' verdict. A transport failure backs off (exponential, jittered,
capped: gateway/wire/backoff.py) and retries the same bytes. A rejection is not skipped: it stops the line and
is reported, because skipping would silently break the chain the bank relies on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from gateway.i18n import N_, as_data
from gateway.store import Store
from gateway.uplink.heads import HeadSigner
from gateway.uplink.transport import Ack, Transport, TransportError
from gateway.wire.backoff import Backoff

log = logging.getLogger("edgeproof.uplink")
JITTER = (0.8, 1.2)  # ±20 %: gateways that lost the receiver together do not come back in step
DRAIN_CAP_S = 5.0  # while draining before a stop: retry at least every 5 s until the deadline


@dataclass
class UplinkState:
    destination: str
    state: str = "idle"  # idle | sending | backoff | rejected
    sent: int = 0
    acknowledged: int = 0
    duplicates: int = 0
    failures: int = 0
    last_error: str | None = None  # English (logs, health summary kinds)
    last_error_text: object = None  # the same as data, shown in the reader's language (gateway.i18n.as_data)
    last_ack_at: float | None = None
    rejected: dict[str, int] | None = None
    heads_sent: int = 0  # head statements the receiver accepted (gateway/uplink/heads.py)
    last_head_error: str | None = None


class Sender:
    def __init__(self, store: Store, transport: Transport, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 60.0, heads: HeadSigner | None = None) -> None:
        self.store = store
        self.transport = transport
        self.heads = heads
        self.dest = transport.name
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.status = UplinkState(self.dest, rejected={})
        self.backoff = Backoff(min(backoff_initial_s, backoff_max_s), backoff_max_s, jitter=JITTER)
        self._retry = self.backoff.tracker()
        self.wakeup = asyncio.Event()

    def backlog(self) -> int:
        return self.store.outbox_head() - self.store.acked(self.dest)

    async def send_pending(self) -> int:
        """Send everything unacknowledged, in order. Returns how many were acknowledged."""
        done = 0
        while True:
            acked = self.store.acked(self.dest)
            pending = self.store.outbox_after(acked, limit=20)
            if not pending:
                self.status.state = "idle"
                if await self.send_head() and self.store.acked(self.dest) < acked:
                    continue  # the receiver's chain is shorter than what it acknowledged: resend
                return done
            for seq, hash_, body, sig, kid, head_sig in pending:
                from gateway.wire import SignedBatch

                envelope = SignedBatch(body=body, sig=sig, kid=kid, head_sig=head_sig).envelope()
                self.status.state = "sending"
                self.status.sent += 1
                ack = await self.transport.send(seq, hash_, envelope)
                if ack.delivered:
                    self.store.set_acked(self.dest, seq, ack.status)
                    self.status.acknowledged += 1
                    self.status.duplicates += ack.status == "duplicate"
                    self.status.last_ack_at = time.time()
                    done += 1
                    continue
                resend_from = _resend_from(ack)
                if ack.code == "out_of_order" and resend_from is not None and resend_from <= seq:
                    # The receiver lacks earlier batches (it was restored from a backup):
                    # rewind and resend from what it asks for, same bytes as before.
                    self._rewind(resend_from)
                    break
                assert self.status.rejected is not None
                self.status.rejected[ack.code or "unknown"] = self.status.rejected.get(ack.code or "unknown", 0) + 1
                self.status.state = "rejected"
                self.status.last_error = f"seq {seq} rejected: {ack.code}: {ack.message}"
                raise TransportError(self.status.last_error)

    def _rewind(self, resend_from: int) -> None:
        """Move this destination's acknowledged position back to ``resend_from - 1``.

        Only as far as the outbox still holds batches (``store.retain_acked_days``): a receiver
        asking for a seq this gateway no longer keeps stops the line with an error naming both,
        instead of looping on a resend that cannot start where it is asked to."""
        first = self.store.outbox_first()
        if first is None or first > resend_from:
            assert self.status.rejected is not None
            self.status.rejected["resend_unavailable"] = self.status.rejected.get("resend_unavailable", 0) + 1
            self.status.state = "rejected"
            self.status.last_error = (
                f"the receiver asks for batches from seq {resend_from}, but this gateway keeps acknowledged batches "
                f"only from seq {first if first is not None else 'none'} (store.retain_acked_days): restore the "
                "receiver from a newer backup (docs/operations.md)")
            raise TransportError(self.status.last_error)
        self.store.rewind_acked(self.dest, resend_from - 1)
        log.warning("receiver asked to resend", extra={"from_seq": resend_from})

    async def send_head(self, force: bool = False) -> bool:
        """Sign and send a head statement for the acknowledged seq when one is due (or ``force``).

        Never raises for the receiver's or the network's sake: a statement is not on the batch
        line, so a failure is logged and counted and the next one is tried later. Returns
        whether the receiver accepted one now."""
        send = getattr(self.transport, "send_head", None)
        if self.heads is None or send is None:
            return False
        acked = self.store.acked(self.dest)
        if not (force or self.heads.due(acked)):
            return False
        signed = self.heads.statement(acked)
        if signed is None:
            return False
        try:
            ack = await send(signed.hash, signed.envelope())
        except TransportError as exc:
            self.heads.failed()
            self.status.last_head_error = str(exc)
            log.warning("head statement not delivered", extra={"error": str(exc), "seq": acked})
            return False
        if ack.delivered:
            self.heads.delivered(acked)
            self.status.heads_sent += 1
            self.status.last_head_error = None
            chain_seq = (ack.raw or {}).get("chain_seq")
            if isinstance(chain_seq, int) and not isinstance(chain_seq, bool) and 0 <= chain_seq < acked:
                # The receiver holds less than it acknowledged (restored from a backup, or its
                # newest batches were deleted): rewind and resend the same bytes, as for out_of_order.
                log.warning("receiver's chain ends before what it acknowledged; resending",
                            extra={"from_seq": chain_seq + 1, "acked": acked})
                self._rewind(chain_seq + 1)
            return True
        self.heads.failed()
        self.status.last_head_error = f"head statement for seq {acked} refused: {ack.code}: {ack.message}"
        log.warning("head statement refused", extra={"code": ack.code, "seq": acked})
        return False

    async def drain(self, deadline_s: float) -> int:
        """Send what is pending before a stop, retrying transport errors until the deadline.

        A stop often comes right after an outage ends (systemd restart, the broker back a
        moment ago), when the first attempt still fails: giving up on that first error would
        leave batches waiting a whole restart for no reason. A rejection is not retried,
        as in :meth:`run`. Returns how many were acknowledged; what is left stays in the
        outbox for the next start.
        """
        before = self.status.acknowledged
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        base = min(self.backoff_initial_s, DRAIN_CAP_S)
        waits = Backoff(base, DRAIN_CAP_S, deadline_s=deadline_s).delays(clock=loop.time)
        while True:
            try:
                async with asyncio.timeout_at(end):
                    await self.send_pending()
                    return self.status.acknowledged - before
            except TimeoutError:
                raise TransportError(N_("uplink not drained within {deadline_s} s"),
                                     deadline_s=f'{deadline_s:g}') from None
            except TransportError as exc:
                delay = None if self.status.state == "rejected" else next(waits, None)
                if delay is None:  # rejected, or the next wait would end at or after the deadline
                    raise
                self.status.failures += 1
                log.warning("uplink retry while draining", extra={"error": str(exc), "retry_in_s": round(delay, 2)})
                await asyncio.sleep(delay)

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.send_pending()
                self._retry.succeeded()
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                # that races with the event being set, leaving the task unstoppable.
                try:
                    async with asyncio.timeout(interval_s):
                        await self.wakeup.wait()
                except TimeoutError:
                    pass
                self.wakeup.clear()
            except asyncio.CancelledError:
                raise
            except TransportError as exc:
                self.status.failures += 1
                self.status.last_error = str(exc)
                self.status.last_error_text = as_data(exc)
                if self.status.state != "rejected":
                    self.status.state = "backoff"
                delay = self._retry.failed()
                log.warning("uplink retry", extra={"error": str(exc), "retry_in_s": round(delay, 2)})
                await asyncio.sleep(delay)


def _resend_from(ack: Ack) -> int | None:
    """Where the receiver asks the line to restart: ``resend_from`` (receivers since the resend
    protocol, docs/wire-format.md) or, from older receivers, ``expected_seq``."""
    raw = (ack.raw or {}).get("resend_from")
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
        return raw
    return ack.expected_seq if isinstance(ack.expected_seq, int) and not isinstance(ack.expected_seq, bool) else None
