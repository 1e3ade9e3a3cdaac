"""The enterprise's own record of what left the site: an append-only, hash-chained log.

Every signed batch released for uplink (time, categories, record count, batch hash) and
every consent change is one entry. Each entry's hash covers its fields and the previous
entry's hash, so deleting, reordering or editing an entry breaks the chain from there on;
SQLite triggers refuse UPDATE and DELETE on the table as a first line. ``verify`` also
checks every batch entry against the outbox (same hash, same record count) and that no
outbox batch is missing from the log.

For the status page: ``read_entries(store_or_path, limit)`` returns the newest entries
as plain dicts (see its docstring); it opens a path read-only, so it can run next to the
gateway process.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.store import consent as consent_db
from gateway.store.readonly import ReadOnlyStore

if TYPE_CHECKING:
    from gateway.store import Store

GENESIS = "0" * 64
_FIELDS = ("id", "at", "kind", "seq", "categories", "n_records", "batch_hash", "detail", "prev")


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of the entry's fields (sorted keys, no spaces)."""
    doc = {k: entry[k] for k in _FIELDS}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                     allow_nan=False).encode()).hexdigest()


def append_in_tx(store: Store, kind: str, *, at: float | None = None, seq: int | None = None,
                 categories: list[str] | None = None, n_records: int | None = None,
                 batch_hash: str | None = None, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append one entry inside the caller's ``store.tx("IMMEDIATE")`` (so two processes, the gateway
    and a `consent` command, cannot fork the chain)."""
    last = consent_db.last_audit_entry_in_tx(store)
    entry = {"id": (last[0] + 1) if last else 1, "at": round(time.time() if at is None else at, 3), "kind": kind,
             "seq": seq, "categories": sorted(categories or []), "n_records": n_records, "batch_hash": batch_hash,
             "detail": detail or {}, "prev": last[1] if last else GENESIS}
    entry["hash"] = entry_hash(entry)
    consent_db.add_audit_entry_in_tx(store, entry)
    return entry


def append(store: Store, kind: str, **kw: Any) -> dict[str, Any]:
    with store.tx("IMMEDIATE"):
        return append_in_tx(store, kind, **kw)


def record_batches(store: Store) -> int:
    """Log every outbox batch not yet in the log, in seq order; returns how many were added.
    Reading the outbox (not a callback) means a crash between signing and logging is
    caught up on the next step instead of leaving a hole."""
    added = 0
    with store.tx("IMMEDIATE"):
        for seq, h, created, n, cats in consent_db.batches_not_audited_in_tx(store):
            append_in_tx(store, "batch", at=created, seq=seq, categories=cats, n_records=n, batch_hash=h)
            added += 1
    return added


def read_entries(store_or_path: Store | str | Path, limit: int | None = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` entries (all when None), newest first, for display.

    Each entry: ``id``, ``at`` (epoch s), ``time`` (ISO 8601 UTC), ``kind`` ('batch', 'consent'
    = a change the gateway announced in a signed record, 'consent_local' = a change made on
    site with `edgeproof consent`), ``seq`` and ``batch_hash`` (batches and announced
    changes), ``categories``, ``n_records``, ``detail`` (consent changes: what changed),
    ``prev``/``hash`` (the chain), and ``acknowledged`` (batches: True once every uplink
    destination acknowledged that seq, False before, None when no destination has acked yet).
    A path is opened read-only (a file without an audit log has no entries).
    """
    if isinstance(store_or_path, str | Path):
        with ReadOnlyStore(store_or_path) as ro:
            return _decorate(*consent_db.audit_entries_and_acks(ro, limit, newest_first=True))
    return _decorate(*consent_db.audit_entries_and_acks(store_or_path, limit, newest_first=True))


def _decorate(rows: list[dict[str, Any]], acks: list[int]) -> list[dict[str, Any]]:
    acked = min(acks) if acks else None
    for e in rows:
        e["time"] = datetime.fromtimestamp(e["at"], UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        e["acknowledged"] = (None if acked is None else e["seq"] <= acked) if e["kind"] == "batch" else None
    return rows


@dataclass
class Verification:
    ok: bool
    entries: int
    batches: int
    consent_changes: int
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "batches": self.batches,
                "consent_changes": self.consent_changes, "problems": self.problems}


def verify(store_or_path: Store | str | Path) -> Verification:
    """Recompute the chain and compare batch entries with the outbox."""
    if isinstance(store_or_path, str | Path):
        with ReadOnlyStore(store_or_path) as ro:
            rows, outbox = consent_db.audit_entries_and_outbox(ro)
    else:
        rows, outbox = consent_db.audit_entries_and_outbox(store_or_path)
    problems: list[str] = []
    prev = GENESIS
    logged: set[int] = set()
    for i, e in enumerate(rows, start=1):
        if e["id"] != i:
            problems.append(f"entry {e['id']}: expected id {i} (an entry is missing)")
        if e["prev"] != prev:
            problems.append(f"entry {e['id']}: prev does not match the hash of entry {i - 1}")
        if entry_hash(e) != e["hash"]:
            problems.append(f"entry {e['id']}: hash does not match its content (edited)")
        prev = e["hash"]
        if e["kind"] == "batch":
            logged.add(e["seq"])
            ob = outbox.get(e["seq"])
            if ob is None and e["seq"] >= min(outbox, default=0):  # older ones may be pruned after ack
                problems.append(f"entry {e['id']}: batch seq {e['seq']} is not in the outbox")
            elif ob is not None and ob != (e["batch_hash"], e["n_records"]):
                problems.append(f"entry {e['id']}: batch seq {e['seq']} differs from the outbox "
                                f"(hash or record count)")
    missing = sorted(set(outbox) - logged)
    if missing:
        problems.append(f"outbox batches not in the log: {missing[:20]}{' ...' if len(missing) > 20 else ''}")
    return Verification(not problems, len(rows), len(logged),
                        sum(1 for e in rows if e["kind"] in ("consent", "consent_local")), problems)
