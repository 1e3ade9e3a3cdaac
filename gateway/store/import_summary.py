"""What the status page shows of MES/ERP imports: each connector's last import and the newest
quarantined lines with their reasons (never the raw line: it stays in ``erp_quarantine`` for
`import-erp`). The imports themselves are written by gateway/connectors through the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store import Store


def last_imports(store: Store) -> list[dict[str, Any]]:
    """Each connector's newest import, by connector name."""
    with store._lock:
        rows = store.db.execute(
            "SELECT connector, source, at, rows_ok, rows_quarantined, added, changed, removed FROM erp_imports "
            "WHERE id IN (SELECT MAX(id) FROM erp_imports GROUP BY connector) ORDER BY connector").fetchall()
    return [{"connector": c, "source": src, "at": at, "rows_ok": ok, "rows_quarantined": q, "added": a,
             "changed": ch, "removed": rm} for c, src, at, ok, q, a, ch, rm in rows]


def newest_quarantined(store: Store, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` quarantined lines: connector, source file, line number and reason."""
    with store._lock:
        rows = store.db.execute("SELECT connector, source, line, reason FROM erp_quarantine ORDER BY id DESC "
                                "LIMIT ?", (limit,)).fetchall()
    return [{"connector": c, "source": src, "line": ln, "reason": r} for c, src, ln, r in rows]
