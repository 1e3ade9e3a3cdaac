"""Fleet alarms: a silent gateway, unhealthy devices, a clock out of sync, a backlog growing for hours.

Each condition is raised once when it starts (an alert) and cleared once when it ends (a recovery
alert), whatever the MES or anything else claims: the receiver's own clock and the gateway's
signed health summaries are the only inputs. Alerts go into the ``alerts`` table hash-chained per
enterprise (``feed_chain.link``), so banks read them in the alerts feed and channel delivery
(another module) picks them up from there. Which conditions are raised now is kept in
``fleet_conditions``: a check run every minute raises nothing new while nothing changes.

Conditions, per gateway that is not revoked (kind raised / kind of the recovery, level):

* ``gateway_silent`` / ``gateway_recovered`` (orange / green): no contact for more than the
  enterprise's ``silent_after_s`` (cloud_stub/fleet.py); the recovery when it is heard again;
* ``device_unhealthy`` / ``devices_recovered`` (yellow / green): the latest summary counts
  unhealthy devices (the detail has the counts by error kind);
* ``clock_unsynced`` / ``clock_synced`` (yellow / green): the latest summary says the clock is
  not synchronised (or reads before 2024);
* ``backlog_growing`` / ``backlog_cleared`` (yellow / green): over the last ``backlog_hours``
  of summaries (by their signed time) the unacknowledged batches never reached 0 and the latest
  count is above the count ``backlog_hours`` ago.

Health conditions are judged on the latest summary even while the gateway is silent (they are the
last word it gave); a revoked gateway raises nothing, neither a new condition nor a recovery.

:func:`check_fleet` runs inside ``cloud serve`` (:class:`PeriodicFleetCheck`, every 60 s by
default) and as ``edgeproof cloud check-fleet``; it takes ``now`` so tests need not wait.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from cloud_stub import feed_chain
from cloud_stub.db import SQLConn, Store, iso, utc_now
from cloud_stub.fleet import FleetSettings, gateways, settings_of
from cloud_stub.periodic import PeriodicTask

log = logging.getLogger("cloud_stub.fleet")

# condition -> (alert kind, level, recovery kind)
CONDITIONS = {
    "silent": ("gateway_silent", "orange", "gateway_recovered"),
    "devices": ("device_unhealthy", "yellow", "devices_recovered"),
    "clock": ("clock_unsynced", "yellow", "clock_synced"),
    "backlog": ("backlog_growing", "yellow", "backlog_cleared"),
}


def _backlog_growing(conn: SQLConn, gw: dict[str, Any], s: FleetSettings) -> dict[str, Any] | None:
    """The backlog's growth over ``backlog_hours`` from the signed summaries, or None when it is not growing."""
    latest = gw["health"]
    if latest is None or latest["backlog"]["batches"] <= 0:
        return None
    t1 = int(latest["window"]["start"])
    t0 = t1 - int(s.backlog_hours * 3600)
    base = conn.execute(
        "SELECT record FROM records WHERE enterprise_id = ? AND name = 'gateway.health' AND gateway_id = ?"
        " AND window_start <= ? ORDER BY window_start DESC, id DESC LIMIT 1",
        (gw["enterprise_id"], gw["gateway_id"], t0)).fetchone()
    if base is None:
        return None  # not enough history yet
    since = conn.execute(
        "SELECT record FROM records WHERE enterprise_id = ? AND name = 'gateway.health' AND gateway_id = ?"
        " AND window_start > ? AND window_start <= ? ORDER BY window_start, id",
        (gw["enterprise_id"], gw["gateway_id"], t0, t1)).fetchall()
    counts = []
    for (text,) in [base, *since]:
        try:
            counts.append(int(json.loads(text)["backlog"]["batches"]))
        except (ValueError, KeyError, TypeError):
            continue  # a malformed summary (its own finding) says nothing about the backlog
    if len(counts) < 2 or min(counts) <= 0 or counts[-1] <= counts[0]:
        return None
    return {"hours": s.backlog_hours, "batches_then": counts[0], "batches_now": counts[-1],
            "summaries": len(counts), "oldest_unacked_s": latest["backlog"].get("oldest_unacked_s")}


def conditions_now(conn: SQLConn, gw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The conditions that hold for one gateway of the inventory now, with their detail."""
    out: dict[str, dict[str, Any]] = {}
    if gw["state"] == "revoked":
        return out
    base = {"gateway_id": gw["gateway_id"], "last_contact": gw["last_contact"], "last_seq": gw["last_seq"]}
    if gw["state"] == "silent":
        out["silent"] = {**base, "silent_for_s": gw["last_contact_age_s"],
                         "silent_after_s": gw["thresholds"]["silent_after_s"]}
    h = gw["health"]
    if h is not None:
        at = {**base, "summary_seq": gw["health_seq"], "summary_time": gw["health_time"]}
        if h["devices"]["unhealthy"] > 0:
            out["devices"] = {**at, "unhealthy": h["devices"]["unhealthy"], "total": h["devices"]["total"],
                              "errors": h["devices"]["errors"]}
        clock = h["clock"]
        if not clock.get("synced") or clock.get("implausible"):
            out["clock"] = {**at, "clock": clock}
        grow = _backlog_growing(conn, gw, settings_of(conn, gw["enterprise_id"]))
        if grow is not None:
            out["backlog"] = {**at, **grow}
    return out


def _alert(conn: SQLConn, ent: str, kind: str, level: str, detail: dict[str, Any], dedupe: str,
           created: str) -> dict[str, Any] | None:
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    prev, h = feed_chain.link(conn, "alert", {"enterprise_id": ent, "kind": kind, "level": level,
                                              "created": created}, json.loads(text))
    row = conn.execute(
        "INSERT INTO alerts (enterprise_id, kind, level, detail, created, dedupe, prev, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        (ent, kind, level, text, created, f"{ent}/fleet/{dedupe}", prev, h)).fetchone()
    return None if row is None else {"id": row[0], "enterprise_id": ent, "kind": kind, "level": level,
                                     "detail": detail}


def _held(conn: SQLConn, gateway_id: str | None = None) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    sql = "SELECT gateway_id, condition, since, detail FROM fleet_conditions"
    rows = conn.execute(sql + " WHERE gateway_id = ?", (gateway_id,)) if gateway_id is not None \
        else conn.execute(sql)
    return {(g, c): (since, json.loads(d)) for g, c, since, d in rows.fetchall()}


def check_fleet(rdb: Store, now: float | None = None, enterprise_id: str | None = None) -> list[dict[str, Any]]:
    """Raise and clear fleet conditions as of ``now``; returns the alerts written (raised and recoveries).

    Conditions are judged on a read snapshot; only a gateway whose conditions changed gets a write
    transaction (a steady fleet costs reads only), and there the held conditions are read again under
    the enterprise lock, so two receivers checking at once raise each alert once.
    """
    now = time.time() if now is None else now
    items = gateways(rdb, enterprise_id, now)
    with rdb.read() as conn:
        held_all = _held(conn)
        current_all = {gw["gateway_id"]: conditions_now(conn, gw) for gw in items}
    raised: list[dict[str, Any]] = []
    for gw in items:
        gid = gw["gateway_id"]
        if gw["state"] == "revoked":
            continue  # nothing new, and no recovery either: a revoked gateway did not come back
        held_keys = {c for (g, c) in held_all if g == gid}
        if not _changes(gw, held_keys, current_all[gid]):
            continue
        raised += _apply(rdb, gw, current_all[gid])
    for a in raised:
        log.warning("fleet alert", extra={"event": "fleet_alert", "kind": a["kind"], "level": a["level"],
                                          "gateway": a["detail"].get("gateway_id"), "enterprise": a["enterprise_id"]})
    return raised


def _changes(gw: dict[str, Any], held: set[str], current: dict[str, dict[str, Any]]) -> bool:
    """Whether a condition starts or ends (a silent gateway's health conditions stand until it speaks)."""
    if set(current) - held:
        return True
    return any(c not in current and not (c != "silent" and gw["state"] == "silent") for c in held)


def _apply(rdb: Store, gw: dict[str, Any], current: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    ent, gid = gw["enterprise_id"], gw["gateway_id"]
    out: list[dict[str, Any]] = []
    with rdb.write() as conn:
        if rdb.dialect == "postgresql":  # alerts are chained per enterprise: ingest's lock order
            conn.execute("SELECT id FROM enterprises WHERE id = ? FOR NO KEY UPDATE", (ent,))
        held = {c: v for (_, c), v in _held(conn, gid).items()}
        created = iso(utc_now())
        for cond, detail in current.items():
            if cond in held:
                continue
            kind, level, _ = CONDITIONS[cond]
            a = _alert(conn, ent, kind, level, detail, f"{gid}/{cond}/{created}", created)
            conn.execute("INSERT INTO fleet_conditions (gateway_id, condition, enterprise_id, since, detail)"
                         " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         (gid, cond, ent, created, json.dumps(detail, sort_keys=True)))
            if a is not None:
                out.append(a)
        for cond, (since, before) in held.items():
            if cond in current or (cond != "silent" and gw["state"] == "silent"):
                continue
            _, _, kind = CONDITIONS[cond]
            detail = {"gateway_id": gid, "since": since, "raised": before, "last_contact": gw["last_contact"],
                      "last_seq": gw["last_seq"], "state": gw["state"]}
            a = _alert(conn, ent, kind, "green", detail, f"{gid}/{cond}/{since}/cleared", created)
            conn.execute("DELETE FROM fleet_conditions WHERE gateway_id = ? AND condition = ?", (gid, cond))
            if a is not None:
                out.append(a)
    return out


class PeriodicFleetCheck(PeriodicTask):
    """:func:`check_fleet` every ``interval`` seconds on its own connection (``cloud serve``): the
    silence alarm runs on time whatever one round hit (cloud_stub/periodic.py)."""

    name = "fleet_check"

    def __init__(self, open_rdb: Any, interval: float = 60.0) -> None:
        super().__init__(open_rdb, interval, log)

    def round(self, rdb: Any) -> None:
        check_fleet(rdb)

