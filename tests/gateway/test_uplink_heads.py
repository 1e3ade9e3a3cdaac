"""The gateway's head statements (gateway/uplink/heads.py): what is signed, when one is due, heads_from."""

from __future__ import annotations

from pathlib import Path

from nacl.signing import SigningKey

from gateway import wire
from gateway.identity import Identity
from gateway.store import Store
from gateway.uplink.batcher import Batcher
from gateway.uplink.heads import HeadSigner, heads_from


def identity() -> Identity:
    key = SigningKey(bytes(range(32)))
    pk = bytes(key.verify_key)
    return Identity("gw-h", wire.key_id(pk), pk, key, {"enterprise_id": "ent-h"})


def add(store: Store, n: int) -> None:
    start = store.count("indicators")
    store.add_indicators([{"name": "energy.kwh", "category": "energy", "subject": "m",
                           "window_start": 1764201600 + 900 * (start + i), "window_len": 900, "value": 1.0,
                           "unit": "kWh", "quality": [], "version": 1, "detail": {}} for i in range(n)])


def test_statements_name_the_acknowledged_batch_and_are_due_when_it_moves(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.db", "NORMAL")
    try:
        ident = identity()
        signer = HeadSigner(store, ident, interval_s=300)
        assert signer.statement(0) is None and not signer.due(0)
        add(store, 3)
        Batcher(store, ident, max_records=1).pack_all()
        (_, h2, *_), = store.outbox_after(1, 1)
        signed = signer.statement(2)
        stmt = wire.verify_head_statement(signed, ident.public_key)
        assert (stmt["seq"], stmt["hash"], stmt["heads_from"], stmt["gateway"]) == (2, h2, 1, "gw-h")
        assert signer.due(2)
        signer.delivered(2)
        assert not signer.due(2) and signer.due(3)  # the next ack makes one due at once
        slow = HeadSigner(store, ident, interval_s=300, min_gap_s=60)
        slow.delivered(2)
        assert not slow.due(3)  # a replay: not one per packing step
        slow.interval_s = slow.min_gap_s = 0
        assert slow.due(2) and slow.due(3)
        slow.failed()
        assert signer.due(3)  # (the other signer is unaffected)
        slow.interval_s = 300
        assert not slow.due(3)  # after a failure, wait before trying again
    finally:
        store.close()


def test_heads_from_is_persisted_and_counts_from_the_first_signed_head(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.db", "NORMAL")
    try:
        # a store upgraded from before head signatures: two batches without one in its outbox
        for seq in (1, 2):
            store.append_batch(seq, f"{seq:064x}", b"{}", b"s" * 64, "k", [], ["energy"], 0,
                               {"chain.head_hash": f"{seq:064x}", "chain.head_seq": str(seq)})
        assert heads_from(store) == 3 and store.meta_get("chain.heads_from") == "3"
        add(store, 1)
        Batcher(store, identity()).pack_all()
        (_, _, body, *_), = store.outbox_after(2, 1)
        assert wire.decode_body(body)["heads_from"] == 3
        assert heads_from(store) == 3  # never moves, whatever the outbox holds later
    finally:
        store.close()
