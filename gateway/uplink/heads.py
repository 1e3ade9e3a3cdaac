"""Head statements: the gateway's signed word on where its chain ends, as the receiver acknowledged it.

A bank can check every batch it is shown, but not one it is never shown: a receiver that
deletes the newest batches of a chain (and rolls its head back) serves a shorter chain that
still verifies. So every few minutes, and right after batches are acknowledged, the gateway
signs a small statement ``{v, gateway, enterprise, kid, seq, hash, time, heads_from}``
(``gateway.wire.head_statement``) and sends it over the batch transport; the receiver must
serve the latest one, and a bank whose served chain ends before it names the missing seqs.

Why the **acknowledged** seq and not the outbox tip: a batch still in flight is not yet the
receiver's to serve; a statement naming it would make an honest receiver look like it
truncated. The acknowledged seq is one the receiver confirmed it stored.

``heads_from`` (also in every batch body) is the first seq whose batch head this gateway
signs; it is persisted (``meta`` key ``chain.heads_from``) so it never moves. A store from
before it was introduced gets the first outbox seq that has a head signature (normally 1).

Statements are not on the batch line: a statement that cannot be delivered or is refused is
logged and counted, and never holds a batch back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway import wire
from gateway.identity import Identity
from gateway.store import Store
from gateway.store import outbox as outbox_db

HEAD_INTERVAL_S = 300.0  # a bank sees the gateway's head at most this old while the gateway is up


def heads_from(store: Store) -> int:
    """The first seq whose head this gateway signs, persisted the first time it is asked.

    For a store that already holds batches: the first outbox seq with a head signature, or the
    next seq when none has one (a gateway whose earlier batches predate head signatures).
    """
    known = store.meta_get("chain.heads_from")
    if known is not None:
        return int(known)
    first = outbox_db.first_head_signed_seq(store)
    if first is None:
        first = store.outbox_head() + 1
    store.meta_set("chain.heads_from", str(first))
    return first


class HeadSigner:
    """Builds and signs head statements for one destination; decides when one is due."""

    def __init__(self, store: Store, identity: Identity, interval_s: float = HEAD_INTERVAL_S,
                 clock: Callable[[], float] = time.time, min_gap_s: float = 0.0) -> None:
        self.store = store
        self.identity = identity
        self.interval_s = interval_s
        # Real time, also for a replay: a statement says when the receiver held the chain, not
        # when the replayed data was measured (a replay's batches carry the simulated clock).
        self.clock = clock
        # The least time between two statements even when the acknowledged seq moved: a replay
        # acknowledges a batch per packing step, many a second, and needs no statement for each.
        self.min_gap_s = min_gap_s
        self._last_sent_at: float | None = None  # time.monotonic() of the last statement delivered
        self._last_seq = 0
        self._failed_at: float | None = None  # time.monotonic() of the last attempt that failed

    def due(self, acked_seq: int) -> bool:
        """A statement is due when the acknowledged seq moved, or ``interval_s`` passed since the last."""
        if acked_seq < 1:
            return False
        if self._failed_at is not None and time.monotonic() - self._failed_at < min(self.interval_s, 60.0):
            return False  # a receiver without head statements (older) must not cost a timeout per step
        if self._last_sent_at is None:
            return True
        since = time.monotonic() - self._last_sent_at
        if acked_seq != self._last_seq:
            return since >= self.min_gap_s
        return since >= self.interval_s

    def statement(self, acked_seq: int) -> wire.SignedHeadStatement | None:
        """The signed statement for ``acked_seq`` (None before any batch was acknowledged)."""
        ent = self.identity.enterprise_id
        if acked_seq < 1 or ent is None:
            return None
        head_hash = outbox_db.batch_hash(self.store, acked_seq)
        if head_hash is None:
            return None
        stmt = wire.head_statement(self.identity.gateway_id, ent, self.identity.kid, acked_seq, head_hash,
                                   self.clock(), heads_from(self.store))
        return wire.sign_head_statement(stmt, self.identity.signer)

    def delivered(self, seq: int) -> None:
        self._last_sent_at = time.monotonic()
        self._last_seq = seq
        self._failed_at = None

    def failed(self) -> None:
        """Not delivered or refused: the next attempt waits (at most a minute, or ``interval_s``)."""
        self._failed_at = time.monotonic()
