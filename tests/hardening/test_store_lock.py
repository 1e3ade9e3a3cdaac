"""Issue 18: the sender's ack rewind takes the store lock like every other write."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from gateway.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_sender_runs_no_sql_of_its_own() -> None:
    """Every write of the sender goes through a Store method (which takes the lock)."""
    tree = ast.parse((ROOT / "gateway/uplink/sender.py").read_text(encoding="utf-8"))
    raw = [n.lineno for n in ast.walk(tree)
           if isinstance(n, ast.Attribute) and n.attr == "db" and isinstance(n.value, ast.Attribute)
           and n.value.attr == "store"]
    assert raw == [], f"gateway/uplink/sender.py uses store.db directly at lines {raw}"


def test_rewind_waits_for_the_store_lock_and_moves_the_ack_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", "NORMAL")
    try:
        store.set_acked("http:x", 10, "accepted")
        done = threading.Event()
        with store._lock:
            t = threading.Thread(target=lambda: (store.rewind_acked("http:x", 4), done.set()))
            t.start()
            assert not done.wait(0.3), "rewind wrote while another thread held the store lock"
        assert done.wait(5)
        t.join(5)
        assert store.acked("http:x") == 4
    finally:
        store.close()
