"""Packing indicators into signed, chained batches in the outbox.

The batch is signed once, here, and the exact bytes are stored; resends send the same
bytes. seq, prev and the indicators' batch mark advance in one transaction.

One indicator category per batch: a bank may be authorised for some categories only, and
a batch body can be shown to it only whole (the gateway's signature covers the whole
body), so a batch that mixed categories would have to be withheld from every bank not
granted all of them. Extra records (a consent change) ride in the first batch packed in
the same step, so the announcement is signed together with, and before, the data it
governs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway import wire
from gateway.clock import clock_state
from gateway.identity import Identity
from gateway.store import Store
from gateway.store import indicators as indicators_db
from gateway.uplink.heads import heads_from

# A hook that decides which records may leave (consent) and transforms them (privacy): the
# batcher asks it (gateway/consent/gate.py's ConsentGate.policy), it never calls the batcher.
# It gets the records and returns (records to send, {indicator id: reason} to hold back).
RecordPolicy = Callable[[list[dict[str, Any]]], tuple[list[dict[str, Any]], dict[int, str]]]


def indicator_record(row: dict[str, Any]) -> dict[str, Any]:
    """The on-the-wire form of one indicator (see docs/wire-format.md)."""
    rec = {"type": "indicator", "name": row["name"], "category": row["category"], "subject": row["subject"],
           "window": {"start": int(row["window_start"]), "len": int(row["window_len"])},
           "value": row["value"], "unit": row["unit"], "q": json.loads(row["quality"]),
           "def": int(row["version"])}
    detail = json.loads(row["detail"]) if isinstance(row.get("detail"), str) else row.get("detail") or {}
    if detail:
        rec["detail"] = detail
    return rec


class Batcher:
    def __init__(self, store: Store, identity: Identity, max_records: int = 500,
                 policy: RecordPolicy | None = None, *, clock: Callable[[], float] = time.time,
                 replay: dict[str, Any] | None = None) -> None:
        self.store = store
        self.identity = identity
        self.max_records = max_records
        self.policy = policy
        # `edgeproof replay` (gateway/replay): batches are dated by the simulated clock and
        # carry a top-level "replay" object, so the receiver and the bank see they are history.
        self.clock = clock
        self.replay = replay

    def pack_once(self, extra_records: list[dict[str, Any]] | None = None) -> int | None:
        """Pack up to max_records pending indicators of one category into one batch; returns its seq or None.

        The category is the one of the oldest pending indicator, so no category waits behind another
        for more than one batch per category. ``extra_records`` (a consent change) are packed alone,
        in a batch of their own: the receiver shows consent records to every authorised bank, and
        a batch is shown only whole, so one riding with energy figures would be hidden from a bank
        not granted energy.
        """
        if extra_records:
            return self._sign_and_store(list(extra_records), [])
        rows = self._pending_one_category()
        records = [dict(indicator_record(r), _id=r["id"]) for r in rows]
        held: dict[int, str] = {}
        if self.policy is not None:
            records, held = self.policy(records)
        if held:
            indicators_db.hold(self.store, held)
        ids = [r.pop("_id") for r in records if "_id" in r]
        if not records:
            return None
        return self._sign_and_store(records, ids)

    def _sign_and_store(self, records: list[dict[str, Any]], ids: list[int]) -> int:
        """Sign one batch of ``records`` onto the chain and put it in the outbox with ``ids`` marked."""
        ent = self.identity.enterprise_id
        if ent is None:
            raise RuntimeError("gateway is not enrolled: run `edgeproof enroll --token ...`")
        seq = self.store.outbox_head() + 1
        prev = self.store.meta_get("chain.head_hash", wire.GENESIS_PREV) or wire.GENESIS_PREV
        body = {
            "v": wire.VERSION, "gateway": self.identity.gateway_id, "enterprise": ent, "kid": self.identity.kid,
            "seq": seq, "prev": prev, "boot": int(self.store.meta_get("boot", "0") or 0),
            "created": datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "clock": clock_state(), "loss": self.store.loss_counters(), "records": records,
            # Signed in every body, so a stub without a head signature from here on is a stripped
            # head, not an old gateway's batch (gateway/uplink/heads.py).
            "heads_from": heads_from(self.store),
        }
        if self.replay is not None:
            body["replay"] = self.replay
        signed = wire.sign_body(body, self.identity.signer)
        categories = sorted({r.get("category", r["type"]) for r in records})
        self.store.append_batch(seq, signed.hash, signed.body, signed.sig, signed.kid, ids, categories,
                                len(records), {"chain.head_hash": signed.hash, "chain.head_seq": str(seq)},
                                signed.head_sig)
        return seq

    def _pending_one_category(self) -> list[dict[str, Any]]:
        """Up to max_records unbatched, not held indicators, all of the oldest one's category."""
        first = self.store.unbatched_indicators(1)
        if not first:
            return []
        return indicators_db.pending_of_category(self.store, first[0]["category"], self.max_records)

    def pack_all(self) -> list[int]:
        seqs = []
        while (seq := self.pack_once()) is not None:
            seqs.append(seq)
        return seqs

    def pack_pending(self, max_pages: int = 10_000) -> list[int]:
        """Like :meth:`pack_all`, but a page where the policy held everything does not end the run:
        thousands of held ERP figures must not delay an authorised indicator behind them."""
        seqs: list[int] = []
        for _ in range(max_pages):
            seq = self.pack_once()
            if seq is not None:
                seqs.append(seq)
            elif not self.store.unbatched_indicators(1):
                break
        return seqs
