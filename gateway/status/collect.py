"""What the status page shows, as plain dicts: read from a running Gateway and its store.

Everything here is read-only and runs in the status server's threads while the gateway's
event loop keeps polling. The store is thread-safe (one lock around its connection);
device health objects are only read, copied with dict() (atomic under the GIL).

No secret is ever put into these dicts: not the signing key, not the enrollment token
(never stored anyway), not MQTT passwords or privacy keys. Identity shows only public
facts; the profile's sections that may name key files are not shown at all.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

from gateway import wire
from gateway.clock import clock_state
from gateway.connectors import reasons
from gateway.i18n import as_data
from gateway.store import import_summary
from gateway.store import indicators as indicators_db
from gateway.store import outbox as outbox_db
from gateway.store import readings as readings_db

if TYPE_CHECKING:
    from gateway.runtime import Gateway
    from gateway.store import Store

_SECRETISH = re.compile(r"(token|secret|password|private|seed|key)", re.I)
# A reading row costs ~40-60 bytes on disk (row + index); used until the store has data.
DEFAULT_BYTES_PER_READING = 60.0


def _version() -> str:
    from gateway import __version__

    return __version__


def identity_view(gw: Gateway) -> dict[str, Any]:
    ident = gw.identity
    enr = ident.enrollment or {}
    return {"gateway_id": ident.gateway_id, "kid": ident.kid, "public_key": wire.b64(ident.public_key),
            "enrolled": ident.enterprise_id is not None, "enterprise_id": ident.enterprise_id,
            "receiver_url": enr.get("receiver_url"), "receiver_kid": enr.get("receiver_kid"),
            # where the key lives (file / tpm) and what the receiver recorded at enrollment (tpm-attested, ...)
            "key_store": ident.protection, "key_protection": enr.get("protection")}


def devices_view(gw: Gateway) -> list[dict[str, Any]]:
    out = []
    for p in gw.scheduler.pollers:
        h, dev = p.health, p.device
        last = dict(h.last_values)
        points = []
        for name, row in list(p.point_rows.items()):
            value, quality = last.get(name, (None, None))
            points.append({"name": name, "meaning": row.meaning, "unit": row.unit, "value": value,
                           "quality": quality})
        out.append({
            "name": dev.name, "driver": dev.driver, "model": dev.model, "asset": dev.asset_name, "bus": dev.bus,
            "state": h.state, "polls": h.polls, "failures": h.failures,
            "consecutive_failures": h.consecutive_failures, "last_ok": h.last_ok, "last_error": h.last_error,
            "last_error_text": h.last_error_text,
            "last_error_at": h.last_error_at, "latency_ms": None if h.last_latency_ms is None
            else round(h.last_latency_ms, 2), "poll_interval_s": dev.poll_interval_s,
            "next_poll_in_s": round(h.next_poll_in_s, 2), "errors": dict(p.errors), "requests": p.driver.requests,
            "breaker_open": bool(getattr(h, "breaker_open", False)),
            "points": points,
        })
    return out


def store_view(gw: Gateway) -> dict[str, Any]:
    """Size, approximate row count and how long the buffer lasts at the current rate.

    Counting rows exactly is a full scan on a Pi's SD card; rowids grow with time and
    purges delete the oldest, so MAX(rowid)-MIN(rowid)+1 is a close, O(log n) estimate.
    """
    store, cfg = gw.store, gw.profile.store
    size = store.size_bytes()
    lo, hi, oldest = readings_db.rowid_span(store)
    rows = (hi - lo + 1) if lo is not None and hi is not None else 0
    uptime = max(time.time() - gw.started_at, 1.0)
    rate = gw.scheduler.writer.committed / uptime  # readings per second since start
    per_row = size / rows if rows > 1000 else DEFAULT_BYTES_PER_READING
    bytes_per_day = rate * per_row * 86400
    max_bytes = cfg.max_mb * 1e6
    capacity_days = max_bytes / bytes_per_day if bytes_per_day > 0 else None
    until_full = max(0.0, max_bytes - size) / bytes_per_day if bytes_per_day > 0 else None
    unbatched = indicators_db.not_packed(store)
    held = sum(_held(store).values())
    return {
        "path": str(store.path), "size_bytes": size, "max_bytes": int(max_bytes), "readings_approx": rows,
        "oldest_reading": oldest, "readings_per_s": round(rate, 3), "bytes_per_day": round(bytes_per_day),
        "retention_days": cfg.retention_days,
        # How many days of raw history the size cap holds at this rate, capped by retention.
        "history_days": None if capacity_days is None else round(min(capacity_days, cfg.retention_days), 1),
        # Days until the size cap starts dropping the oldest raw readings at this rate.
        "days_until_full": None if until_full is None else round(until_full, 1),
        "indicators_unbatched": unbatched, "indicators_held": held,
        "loss": store.loss_counters(),
    }


# `held` has no index: count it over the newest indicators only (a rowid range), so the
# page stays cheap on a store that has kept years of indicators.
HELD_SCAN = 50_000


def _held(store: Store) -> dict[str, int]:
    return indicators_db.held_by_reason(store, HELD_SCAN)


def uplink_view(gw: Gateway) -> dict[str, Any]:
    store = gw.store
    head = store.outbox_head()
    acks = store.ack_info()
    out: dict[str, Any] = {"transport": gw.profile.uplink.transport, "head_seq": head, "acks": acks}
    sender = getattr(gw, "sender", None)
    if sender is None:
        out.update(state="off", backlog=head, acked_seq=0, last_ack_at=None)
        return out
    st = sender.status
    acked = store.acked(sender.dest)
    ack_at = next((a["at"] for a in acks if a["destination"] == sender.dest), None)
    out.update(destination=sender.dest, state=st.state, sent=st.sent, acknowledged=st.acknowledged,
               duplicates=st.duplicates, failures=st.failures, last_error=st.last_error,
               last_error_text=st.last_error_text,
               rejected=dict(st.rejected or {}), acked_seq=acked, backlog=head - acked, last_ack_at=ack_at,
               last_ack_age_s=None if ack_at is None else round(time.time() - ack_at, 1))
    return out


def _sanitize(obj: Any) -> Any:
    """Profile sections shown on the page lose any key that could hold a secret or a key path."""
    if isinstance(obj, dict):
        return {k: ("[not shown]" if _SECRETISH.search(str(k)) else _sanitize(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_sanitize(v) for v in obj]
    return obj


def _optional(module: str) -> Any:
    """The consent/audit subsystem is optional: import it lazily, degrade when absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _in_force(gw: Gateway) -> dict[str, Any] | None:
    """Consent as evaluated now for this gateway's uplink destination (grants from the
    profile and its consent file, then the revokes/grants made on site)."""
    gate = getattr(gw, "gate", None)
    if gate is not None and hasattr(gate, "authorisation"):
        if not getattr(gate, "active", True):
            # No [consent] section: a development profile where every category may leave.
            return {"configured": False, "allowed": ["*"], "denied": [], "to": [], "until": None}
        auth = gate.authorisation()
        return None if auth is None else {"configured": True, **auth.state()}
    policy = _optional("gateway.consent.policy")
    if policy is None:
        return None
    _, grants = policy.load_consent(gw.profile.consent, gw.state_dir)
    # No try here: the store always has the consent_changes table, so an error reading it is
    # an error (consent_view shows it), never "no revocations made on site" -- that could
    # show data the enterprise revoked as allowed.
    changes = policy.local_changes(gw.store)
    sender = getattr(gw, "sender", None)
    dest = sender.dest if sender is not None else "*"
    return {"configured": bool(gw.profile.consent), **policy.evaluate(grants, changes, time.time(), dest).state()}


def consent_view(gw: Gateway, limit: int = 100) -> dict[str, Any]:
    sent = sorted({c for row in outbox_db.recent_categories(gw.store, 200) for c in json.loads(row)})
    held = _held(gw.store)
    out: dict[str, Any] = {"policy": _sanitize(gw.profile.consent), "categories_sent": sent, "held": held,
                           "in_force": None, "audit_available": False, "audit": []}
    try:
        out["in_force"] = _sanitize(_in_force(gw))
    except Exception as exc:  # noqa: BLE001 - the page must render whatever consent's state
        out["in_force"] = None
        out["in_force_state"] = "error"
        out["in_force_error"] = f"{type(exc).__name__}: {exc}"
    audit = _optional("gateway.consent.audit")
    if audit is not None and hasattr(audit, "read_entries"):
        out["audit_available"] = True
        try:
            out["audit"] = [_sanitize(e) for e in audit.read_entries(gw.store, limit)]
        except Exception as exc:  # noqa: BLE001
            if "no such table" not in str(exc):
                out["audit_error"] = f"{type(exc).__name__}: {exc}"
    # Declared events (`edgeproof declare`), newest first, with their notes (shown on site only).
    ledger = _optional("gateway.declarations.ledger")
    out["declarations"] = _sanitize(list(reversed(ledger.listing(gw.store)))[:limit]) if ledger is not None else []
    return out


def imports_view(store: Store, limit: int = 20) -> dict[str, Any]:
    """MES/ERP exports: each connector's last import, and the newest quarantined lines with
    their reasons (a product missing from the master, a bad number, ...) for staff to fix at
    source. The raw lines are not shown here: they stay in erp_quarantine and `import-erp`."""
    # each reason is stored in English; reason_text is the same as data the page renders in its language
    quarantined = [{**q, "reason_text": as_data(reasons.reason(q["reason"]))}
                   for q in import_summary.newest_quarantined(store, limit)]
    return {"connectors": import_summary.last_imports(store), "quarantined": quarantined}


def status(gw: Gateway) -> dict[str, Any]:
    """The page's main document (also written as the snapshot file)."""
    now = time.time()
    return {
        "now": now, "version": _version(), "site": {"id": gw.profile.site.id, "name": gw.profile.site.name,
                                                     "timezone": gw.profile.site.timezone},
        "simulate": gw.simulate, "boot": gw.boot, "started_at": gw.started_at,
        "uptime_s": round(now - gw.started_at, 1), "pid": os.getpid(),
        "clock": clock_state(), "identity": identity_view(gw), "devices": devices_view(gw),
        "store": store_view(gw), "uplink": uplink_view(gw), "indicators_made": gw.indicators_made,
        "status_url": getattr(getattr(gw, "status_server", None), "url", None),
        "imports": imports_view(gw.store),
        "provision": provision_view(gw),
    }


def provision_view(gw: Gateway) -> dict[str, Any] | None:
    """First-boot provisioning's recorded result (gateway/provision/state.py), or None."""
    from gateway.provision.state import read_provision_state

    state_dir = getattr(gw, "state_dir", None)
    return read_provision_state(state_dir) if state_dir is not None else None


def series(gw: Gateway, minutes: float = 15.0, buckets: int = 60) -> dict[str, Any]:
    """Recent readings per point (bucketed averages, via the (point, ts) index) and the
    recent values of each indicator, for the page's small charts."""
    now = time.time()
    horizon = now - minutes * 60
    points = []
    # Spread the buckets over the data actually there (a gateway up for a minute still gets
    # a readable chart); one range scan of the time index serves every point.
    first = readings_db.first_since(gw.store, horizon)
    start = horizon if first is None else first
    width = max((now - start) / buckets, 1e-3)
    grouped: dict[int, list[tuple[int, float | None, int, int]]] = {}
    for pid, b, avg, n, total in readings_db.buckets(gw.store, start, width):
        grouped.setdefault(pid, []).append((b, avg, n, total))
    for p in gw.scheduler.pollers:
        for name, row in list(p.point_rows.items()):
            data = grouped.get(row.id, [])
            points.append({"device": p.device.name, "point": name, "unit": row.unit, "meaning": row.meaning,
                           "t": [round(start + (b + 0.5) * width, 1) for b, *_ in data],
                           "v": [None if n == 0 else round(v, 4) for _, v, n, _ in data],
                           "gaps": sum(1 for *_, n, total in data if n < total)})
    inds: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in sorted(gw.store.recent_indicators(400), key=lambda r: r["window_start"]):
        key = (r["name"], r["subject"], r["window_len"])
        s = inds.setdefault(key, {"name": r["name"], "subject": r["subject"], "window_s": r["window_len"],
                                  "unit": r["unit"], "category": r["category"], "t": [], "v": []})
        s["t"].append(r["window_start"])
        s["v"].append(r["value"])
    for s in inds.values():
        s["t"], s["v"] = s["t"][-48:], s["v"][-48:]
    return {"now": now, "minutes": minutes, "points": points, "indicators": list(inds.values())}


def batches(store: Store, limit: int = 20, before: int | None = None, destination: str | None = None
            ) -> dict[str, Any]:
    """The audit of what left the site: each outbox batch with its decoded body.

    The body bytes are exactly what was signed and sent; decoding them here (not the
    indicator rows) shows staff precisely what the receiver got.
    """
    acks = {a["destination"]: a["seq"] for a in store.ack_info()}
    acked = acks.get(destination, 0) if destination else max(acks.values(), default=0)
    out = []
    for seq, hash_, body, kid, created, n, cats in outbox_db.batches_before(store, before, limit):
        item: dict[str, Any] = {"seq": seq, "hash": hash_, "kid": kid, "created": created, "n_records": n,
                                "categories": json.loads(cats), "bytes": len(body), "acknowledged": seq <= acked}
        try:
            item["body"] = wire.decode_body(bytes(body))
        except wire.WireError as exc:
            item["decode_error"] = str(exc)
        out.append(item)
    return {"head_seq": store.outbox_head(), "acked_seq": acked, "batches": out}
