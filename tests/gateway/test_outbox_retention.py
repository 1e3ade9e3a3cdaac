"""Acknowledged batches stay in the outbox for store.retain_acked_days, then go; the consent audit
log (which lists every batch that left) still verifies after they went, and the size cap removes
acknowledged batches oldest first but never an unacknowledged one."""

from __future__ import annotations

from pathlib import Path

from gateway.consent import audit
from gateway.store import Store


def _batches(store: Store, n: int, size: int = 10) -> None:
    for seq in range(store.outbox_head() + 1, store.outbox_head() + n + 1):
        store.append_batch(seq, f"h{seq}", b"x" * size, b"s", "k", [], ["energy"], 1, {})


def test_the_audit_log_verifies_after_acknowledged_batches_were_purged(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", "NORMAL")
    try:
        _batches(store, 6)
        audit.record_batches(store)
        store.set_acked("http:r", 4)
        assert audit.verify(store).ok
        assert store.purge_acked(0.0, 1e12, now=4e9) == 3  # 1..3: below the acknowledged seq 4
        result = audit.verify(store)
        assert result.ok and result.batches == 6, result.problems
    finally:
        store.close()


def test_the_size_cap_takes_acknowledged_batches_oldest_first_never_unacknowledged(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", "NORMAL")
    try:
        _batches(store, 40, size=20_000)
        store.set_acked("http:r", 30)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        removed = store.purge_acked(1e9, store.size_bytes() / 2, now=0.0)  # all inside the window: only the cap
        assert 0 < removed <= 29
        first = store.outbox_first()
        assert first == removed + 1  # oldest first
        assert [r[0] for r in store.outbox_after(29, 100)] == list(range(30, 41))  # acked head + unacked kept
    finally:
        store.close()
