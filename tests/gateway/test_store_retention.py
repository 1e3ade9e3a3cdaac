"""Retention by age and size; readings purged before they became indicators are counted as loss."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.store import Store


def fill(store: Store, start: float, n: int, step: float = 1.0) -> None:
    pid = store.point("d", "p", "energy.power_kw", "kW").id
    store.add_readings([(start + i * step, pid, float(i), "good") for i in range(n)])


def test_age_retention_counts_only_uncomputed_readings_as_loss(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", "NORMAL")
    now = time.time()
    fill(store, now - 10 * 86400, 1000, 60)  # ten days ago, ~16 h of minute readings
    fill(store, now - 100, 100)
    computed_until = now - 10 * 86400 + 500 * 60  # indicators exist for the first 500 readings
    removed = store.purge(retention_s=86400, max_bytes=1e12, computed_until=computed_until)
    assert removed == 1000
    assert store.count("readings") == 100
    assert store.loss_counters()["readings_purged_unsent"] == 500


def test_size_cap_drops_oldest_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", "NORMAL")
    now = time.time()
    fill(store, now - 20000, 20000)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = store.size_bytes()
    removed = store.purge(retention_s=1e9, max_bytes=size / 2, computed_until=now)
    assert removed > 0
    oldest = store.db.execute("SELECT MIN(ts) FROM readings").fetchone()[0]
    assert oldest > now - 20000  # the oldest went first
    assert store.loss_counters()["readings_purged_unsent"] == 0  # all were already computed
    left = store.count("readings")
    assert store.size_bytes() <= size / 2
    assert store.purge(retention_s=1e9, max_bytes=size / 2, computed_until=now) == 0  # freed pages reused, no creep
    assert store.count("readings") == left
