"""One packing step: everything pending goes into signed batches, in the order a bank must see it.

1. A change of consent (the gate's announcement), alone in a batch, before any data it governs.
2. Declared events, then disputes and confirmations (the ledgers): whatever the consent
   categories, in batches of their own (a bank granted any category sees them).
3. Every pending indicator, one category per batch, through the gate's policy (what is not
   authorised is held back, what may leave is generalised).
4. Every batch signed goes to the enterprise's audit log.

The step calls the gate, the ledgers and the batcher; none of them calls back into the step or
into each other's packing (the gate never calls the batcher: setup.cfg's import-linter contract
``consent-before-uplink`` keeps gateway.consent, gateway.declarations and gateway.disputes from
importing gateway.uplink). Run under the gateway's pack lock: seq = outbox head + 1 is read here.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from gateway.declarations import ledger as declarations
from gateway.disputes import ledger as disputes

if TYPE_CHECKING:
    from gateway.consent.gate import ConsentGate
    from gateway.uplink.batcher import Batcher

# Ledgers of the enterprise's own word, signed in this order at every step. Each module has
# pending(store, now) -> rows, record(row, subject) -> wire record, signed(store, rows, seq, now).
LEDGERS: tuple[ModuleType, ...] = (declarations, disputes)


def pack_step(batcher: Batcher, gate: ConsentGate, now: float | None = None) -> list[int]:
    """Announce a consent change if there is one, sign the ledgers' new rows, pack every pending
    indicator under the authorisation in force now, and log the batches. Returns the new seqs
    (none while the clock is implausible: consent cannot be evaluated then)."""
    step = gate.begin_step(now)
    if step is None:
        return []
    seqs: list[int] = []
    try:
        if step.announcement is not None:
            seq = batcher.pack_once(extra_records=[step.announcement])
            if seq is not None:
                seqs.append(seq)
            gate.announced(step, seq)
        gate.changes_seen(step)
        for ledger in LEDGERS:
            seqs.extend(_sign_ledger(ledger, batcher, gate.subject, step.now))
        seqs.extend(batcher.pack_pending())
    finally:
        gate.end_step()
    return seqs


def _sign_ledger(ledger: ModuleType, batcher: Batcher, subject: str, now: float) -> list[int]:
    """Every row of ``ledger`` not yet in the chain (and dated by ``now``), in batches of their own."""
    seqs: list[int] = []
    while rows := ledger.pending(batcher.store, now):
        seq = batcher.pack_once(extra_records=[ledger.record(r, subject) for r in rows])
        ledger.signed(batcher.store, rows, seq, now)
        seqs.append(seq)
    return seqs
