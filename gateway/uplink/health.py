"""The gateway's periodic health summary: built from the running gateway, signed into the chain.

Every ``health_interval_s`` (profile ``[uplink]``, default 300 s) the runtime packs one summary
record (``gateway/wire/health.py``) in a batch of its own, so the receiver hears from the gateway
even when no indicator window closes, and a bank can verify what the fleet list shows. The first
one goes out one interval after start (not at start: a gateway that crash-loops must not fill its
chain with summaries).

Counts and states only: device names, readings and values never enter a summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway import wire
from gateway.clock import clock_state
from gateway.modem import read_modem
from gateway.store import indicators as indicators_db
from gateway.store import outbox as outbox_db
from gateway.uplink.identity import identified_count
from gateway.wire import health as wire_health

if TYPE_CHECKING:
    from gateway.runtime import Gateway

HEALTH_INTERVAL_S = 300.0


def devices_summary(pollers: list[Any]) -> dict[str, Any]:
    """Healthy / unhealthy / starting counts, per error kind how many unhealthy devices last failed so, and how
    many devices answered their identity registers (``identified``)."""
    out: dict[str, Any] = {"total": len(pollers), "healthy": 0, "unhealthy": 0, "starting": 0, "errors": {},
                           "identified": identified_count(pollers)}
    for p in pollers:
        h = p.health
        state = h.state if h.state in ("healthy", "unhealthy") else "starting"
        out[state] += 1
        if state == "unhealthy":
            kind = (h.last_error or "unknown").split(":", 1)[0].strip() or "unknown"
            out["errors"][kind] = out["errors"].get(kind, 0) + 1
    return out


def backlog_summary(gw: Gateway, now: float) -> dict[str, Any]:
    """Batches and records signed but not yet acknowledged, indicators not yet packed, oldest wait."""
    store, sender = gw.store, gw.sender
    acked = store.acked(sender.dest) if sender is not None else 0
    batches, records, oldest_created = outbox_db.unacknowledged(store, acked)
    pending = indicators_db.not_packed(store)
    oldest = None if oldest_created is None else max(0, int(now - oldest_created))
    return {"batches": batches, "records": records, "pending_indicators": pending, "oldest_unacked_s": oldest}


def store_summary(gw: Gateway) -> dict[str, Any]:
    """Days the store can keep growing: until its size cap drops the oldest raw readings, or until the disk
    is full, whichever comes first at the current write rate (null: no rate known yet)."""
    import shutil

    from gateway.status.collect import store_view

    try:
        view = store_view(gw)
        free = shutil.disk_usage(gw.store.path.parent).free
    except Exception:  # noqa: BLE001 - a summary without the estimate is better than none
        return {"days_left": None, "size_mb": None, "disk_free_mb": None}
    per_day = view.get("bytes_per_day") or 0
    estimates = [d for d in (view.get("days_until_full"), round(free / per_day, 1) if per_day > 0 else None)
                 if d is not None]
    return {"days_left": min(estimates) if estimates else None, "size_mb": round(view["size_bytes"] / 1e6, 1),
            "disk_free_mb": int(free // 1_000_000)}


class ConsentTracker:
    """When the consent in force last changed: the newest consent record this gateway signed.

    Scans only the outbox rows signed since its last look (a store keeps years of batches; the
    summary is built every few minutes on an SD card), so each summary costs O(new batches).
    """

    def __init__(self) -> None:
        self.scanned = 0
        self.last: dict[str, Any] = {"last_change": None, "event": None}

    def summary(self, gw: Gateway) -> dict[str, Any]:
        rows, head = outbox_db.consent_batches_after(gw.store, self.scanned)
        self.scanned = max(self.scanned, head)
        for _, body in rows:
            try:
                rec = next(r for r in json.loads(body)["records"] if r.get("type") == "consent")
                self.last = {"last_change": wire.format_time(float(rec["window"]["start"])),
                             "event": rec.get("event")}
            except (ValueError, KeyError, StopIteration, TypeError):
                continue
        return dict(self.last)


def build_summary(gw: Gateway, now: float | None = None, consent: ConsentTracker | None = None,
                  modem: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """The health record for the gateway as it is now (``modem``: reads the cellular link, gateway/modem.py;
    its field is omitted when there is no modem)."""
    from gateway import __version__

    now = time.time() if now is None else now
    return wire_health.health_record(
        subject=gw.identity.gateway_id, ts=now, boot=int(gw.store.meta_get("boot", "0") or 0),
        version=__version__, uptime_s=max(0, int(now - gw.started_at)), clock=clock_state(),
        backlog=backlog_summary(gw, now), devices=devices_summary(list(gw.scheduler.pollers)),
        store=store_summary(gw), consent=(consent or ConsentTracker()).summary(gw), firmware=firmware_summary(),
        first_boot=first_boot_summary(gw.state_dir),
        modem=modem() if modem is not None else None)


def first_boot_summary(state_dir: Any) -> dict[str, Any] | None:
    """Zero-touch first boot's result (gateway/provision): status and each step's outcome, never the
    token, the receiver URL or the file's path; None on a gateway not provisioned from a boot-partition file."""
    from gateway.provision.state import read_provision_state

    doc = read_provision_state(state_dir)
    if doc is None:
        return None
    steps = [{"name": str(s.get("name")), "status": str(s.get("status"))}
             for s in doc.get("steps", []) if isinstance(s, dict)]
    return {"status": doc.get("status"), "attempt": doc.get("attempt"), "finished_at": doc.get("finished_at"),
            "steps": steps}


def firmware_summary() -> dict[str, Any] | None:
    """The signed updates' state (gateway/update: versions side by side, the last update event and its
    result, a rollback with its reason), or None on a gateway not installed through signed updates."""
    from gateway.update.journal import update_summary

    try:
        summary = update_summary()
    except OSError:
        return None
    return summary if summary.get("current") is not None else None


class HealthReporter:
    """Decides when a summary is due and packs it (in a batch of its own) into the outbox."""

    def __init__(self, gw: Gateway, interval_s: float = HEALTH_INTERVAL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.gw = gw
        self.interval_s = interval_s
        self.clock = clock
        self.sent = 0
        self.consent = ConsentTracker()
        self.modem: Callable[[], dict[str, Any] | None] = read_modem  # ModemManager; None where there is none

    def pack_now(self) -> int | None:
        """Sign one summary into the chain now; its seq (None when the gateway is not enrolled)."""
        if self.gw.identity.enterprise_id is None:
            return None
        from gateway.consent import audit

        seq = self.gw.batcher.pack_once(extra_records=[build_summary(self.gw, self.clock(), self.consent,
                                                                        self.modem)])
        # The enterprise's audit log lists every batch that leaves, summaries included.
        audit.record_batches(self.gw.store)
        self.sent += 1
        return seq
