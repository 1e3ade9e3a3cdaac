"""The fleet inventory: every gateway with its last contact, last seq, version, state and latest health.

*Last contact* is the receiver's own clock: when it last accepted a batch from the gateway or a
head statement signed by it (both verified under an enrolled key; nothing an unauthenticated
client sends counts). A gateway that was never heard from is measured from its enrollment.

States, from the age of the last contact and the enterprise's thresholds (``fleet_settings``;
defaults :data:`DEFAULTS`):

* ``online``: heard within ``late_after_s`` (default 600 s: two health summaries at the default
  300 s interval);
* ``late``: not heard for more than ``late_after_s`` but at most ``silent_after_s``;
* ``silent``: not heard for more than ``silent_after_s`` (default 1800 s, the *expected interval*
  of the silence alarm, cloud_stub/fleet_alerts.py);
* ``revoked``: every key of the gateway is revoked (it cannot send anything the receiver accepts).

Functions take ``now`` (epoch seconds) so the states can be computed for any moment: the tests
and ``cloud check-fleet --now`` use that instead of waiting.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cloud_stub.db import SQLConn, Store, iso, utc_now
from cloud_stub.enrollment import check_id
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg

STATES = ("online", "late", "silent", "revoked")


@dataclass(frozen=True)
class FleetSettings:
    """When a gateway counts as late and as silent, and how long a backlog must grow to alarm."""

    late_after_s: int = 600
    silent_after_s: int = 1800
    backlog_hours: float = 3.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = FleetSettings()


def parse_iso(text: str | None) -> float | None:
    """Epoch seconds of a receiver timestamp (``db.iso``), None for None or a malformed one."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def settings_of(conn: SQLConn, enterprise_id: str) -> FleetSettings:
    row = conn.execute("SELECT late_after_s, silent_after_s, backlog_hours FROM fleet_settings"
                       " WHERE enterprise_id = ?", (enterprise_id,)).fetchone()
    return DEFAULTS if row is None else FleetSettings(int(row[0]), int(row[1]), float(row[2]))


def set_settings(rdb: Store, enterprise_id: str, *, late_after_s: int | None = None,
                 silent_after_s: int | None = None, backlog_hours: float | None = None) -> FleetSettings:
    """Change an enterprise's thresholds (unset ones keep their value); 400 when inconsistent."""
    check_id(enterprise_id, "enterprise")
    with rdb.write() as conn:
        if conn.execute("SELECT 1 FROM enterprises WHERE id = ?", (enterprise_id,)).fetchone() is None:
            raise ReceiverError("not_found", msg("enterprise {enterprise_id} is not known to this receiver",
                                                 enterprise_id=repr(enterprise_id)), 404)
        cur = settings_of(conn, enterprise_id)
        new = FleetSettings(cur.late_after_s if late_after_s is None else int(late_after_s),
                            cur.silent_after_s if silent_after_s is None else int(silent_after_s),
                            cur.backlog_hours if backlog_hours is None else float(backlog_hours))
        if not 1 <= new.late_after_s <= new.silent_after_s:
            raise ReceiverError("bad_request", msg("need 1 <= late_after_s ({late_after_s}) <= silent_after_s "
                                                   "({silent_after_s})", late_after_s=new.late_after_s,
                                                   silent_after_s=new.silent_after_s))
        if not 0 < new.backlog_hours <= 24 * 30:
            raise ReceiverError("bad_request", msg("backlog_hours must be > 0 and at most 720, got {backlog_hours}",
                                                   backlog_hours=new.backlog_hours))
        conn.execute(
            "INSERT INTO fleet_settings (enterprise_id, late_after_s, silent_after_s, backlog_hours, updated)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (enterprise_id) DO UPDATE SET late_after_s = excluded.late_after_s,"
            " silent_after_s = excluded.silent_after_s, backlog_hours = excluded.backlog_hours,"
            " updated = excluded.updated",
            (enterprise_id, new.late_after_s, new.silent_after_s, new.backlog_hours, iso(utc_now())))
    return new


def state_of(age_s: float, revoked: bool, s: FleetSettings) -> str:
    if revoked:
        return "revoked"
    if age_s <= s.late_after_s:
        return "online"
    return "late" if age_s <= s.silent_after_s else "silent"


def gateways(rdb: Store, enterprise_id: str | None = None, now: float | None = None,
             gateway_id: str | None = None) -> list[dict[str, Any]]:
    """Every gateway (of one enterprise, or one gateway, or all), ordered by enterprise and id."""
    now = time.time() if now is None else now
    with rdb.read() as conn:
        return _gateways(conn, enterprise_id, gateway_id, now)


def _gateways(conn: SQLConn, enterprise_id: str | None, gateway_id: str | None, now: float) -> list[dict[str, Any]]:
    conds, args = [], []
    for col, v in (("g.enterprise_id", enterprise_id), ("g.id", gateway_id)):
        if v is not None:
            conds.append(f"{col} = ?")
            args.append(v)
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    rows = conn.execute(
        "SELECT g.id, g.enterprise_id, g.enrolled_at, g.last_seq, b.received,"
        " (SELECT MAX(h.received) FROM head_statements h WHERE h.gateway_id = g.id),"
        " (SELECT COUNT(*) FROM gateway_keys k WHERE k.gateway_id = g.id AND k.revoked_at IS NULL),"
        " gh.seq, gh.time, gh.received, gh.summary"
        " FROM gateways g LEFT JOIN batches b ON b.gateway_id = g.id AND b.seq = g.last_seq"
        " LEFT JOIN gateway_health gh ON gh.gateway_id = g.id " + where + " ORDER BY g.enterprise_id, g.id",
        args).fetchall()
    cache: dict[str, FleetSettings] = {}
    levels: dict[str, set[str]] = {}
    for kgw, level in conn.execute("SELECT gateway_id, protection FROM gateway_keys WHERE revoked_at IS NULL"):
        levels.setdefault(kgw, set()).add(level)
    out = []
    for gid, ent, enrolled, last_seq, batch_at, head_at, live_keys, h_seq, h_time, h_recv, summary in rows:
        if ent not in cache:
            cache[ent] = settings_of(conn, ent)
        s = cache[ent]
        contacts = [t for t in (batch_at, head_at) if t]
        last = max(contacts) if contacts else None
        since = parse_iso(last) or parse_iso(enrolled) or now
        age = max(0.0, now - since)
        health = json.loads(summary) if summary else None
        out.append({
            "gateway_id": gid, "enterprise_id": ent, "enrolled_at": enrolled, "last_contact": last,
            "last_contact_age_s": round(age, 1), "last_seq": int(last_seq),
            "version": health.get("version") if health else None,
            "state": state_of(age, int(live_keys) == 0, s),
            # where its live keys live, the weakest first: file / tpm / tpm-attested (cloud_stub/key_attestation.py)
            "key_protection": next((lv for lv in ("file", "tpm", "tpm-attested") if lv in levels.get(gid, ())), None),
            "health": health, "health_seq": h_seq, "health_time": h_time, "health_received": h_recv,
            "thresholds": s.to_json(),
        })
    return out
