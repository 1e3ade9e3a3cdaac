"""The health summary record (``"type": "health"``): the gateway's signed word on its own state.

Every ``health_interval_s`` (profile ``[uplink]``, default 300 s) the gateway signs one of these
into its chain, in a batch of its own, whether or not an indicator window closed: boot count,
version, uptime, clock state, backlog, device health by error kind, days of store left and the
last consent change. Counts and states only, never a reading: it is shown to every bank the
enterprise authorised (category ``health``, like ``consent`` and ``declaration``) and it is what
the receiver's fleet list and silence alarms read (docs/wire-format.md §15).

Why a record in a batch and not a separate statement (like a head statement): a bank verifies it
with the same checks as any record (the batch signature and the chain), and the receiver cannot
drop or back-date one without breaking the chain.

Versioned and extensible: ``v`` is the summary's schema version (1). Fields added later within v1
are optional and a reader ignores keys it does not know; :data:`RESERVED` names the ones already
planned (firmware/update events, the first-boot result, the modem's signal), which must be
objects when present. A breaking change is a new ``v``; a receiver that does not know it keeps the
record (it is signed) and says so, it does not guess.

Standard library and :mod:`gateway.wire` only: the receiver and a bank's verifier import it.
"""

from __future__ import annotations

from typing import Any

from gateway import wire

HEALTH_VERSION = 1
TYPE = "health"
NAME = "gateway.health"
CATEGORY = "health"
# Planned fields: optional objects, free inside for now (a later version pins their keys).
RESERVED = ("firmware", "first_boot", "modem")
MAX_ERROR_KINDS = 64


class HealthError(ValueError):
    """A malformed summary; ``path`` is the key that is wrong, ``expected`` what it should be."""

    def __init__(self, path: str, expected: str, got: Any = None) -> None:
        self.path, self.expected = path, expected
        shown = repr(got)
        super().__init__(f"{path}: expected {expected}, got {shown[:80]}")


def health_record(*, subject: str, ts: float, boot: int, version: str, uptime_s: int,
                  clock: dict[str, Any], backlog: dict[str, Any], devices: dict[str, Any],
                  store: dict[str, Any], consent: dict[str, Any], **later: Any) -> dict[str, Any]:
    """One summary record as the gateway signs it (``later``: fields of :data:`RESERVED`, when known)."""
    rec: dict[str, Any] = {
        "type": TYPE, "name": NAME, "category": CATEGORY, "subject": subject, "v": HEALTH_VERSION,
        "window": {"start": int(ts), "len": 0}, "time": wire.format_time(ts), "boot": boot, "version": version,
        "uptime_s": uptime_s, "clock": clock, "backlog": backlog, "devices": devices, "store": store,
        "consent": consent,
    }
    rec.update({k: v for k, v in later.items() if k in RESERVED and v is not None})
    return check_health(rec)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _count(rec: dict[str, Any], path: str, *, optional: bool = False) -> None:
    parent, _, key = path.rpartition(".")
    obj = rec
    for part in parent.split(".") if parent else []:
        obj = obj[part]
    if optional and obj.get(key) is None:
        return
    if not _int(obj.get(key)) or not 0 <= obj[key] < 2**63:
        raise HealthError(path, "an integer >= 0" + (" or null" if optional else ""), obj.get(key))


def _object(rec: dict[str, Any], key: str) -> dict[str, Any]:
    v = rec.get(key)
    if not isinstance(v, dict):
        raise HealthError(key, "an object", v)
    return v


def check_health(rec: Any) -> dict[str, Any]:
    """``rec`` if it is a well-formed summary of a version this code knows; else :class:`HealthError`.

    Unknown keys are allowed (later fields); known keys must have their type.
    """
    if not isinstance(rec, dict):
        raise HealthError("record", "an object", rec)
    if rec.get("type") != TYPE or rec.get("name") != NAME or rec.get("category") != CATEGORY:
        raise HealthError("type/name/category", f"{TYPE!r}/{NAME!r}/{CATEGORY!r}",
                          [rec.get("type"), rec.get("name"), rec.get("category")])
    if not _int(rec.get("v")) or rec["v"] != HEALTH_VERSION:
        raise HealthError("v", f"{HEALTH_VERSION} (the summary versions this receiver knows)", rec.get("v"))
    if not isinstance(rec.get("subject"), str) or not rec["subject"]:
        raise HealthError("subject", "a non-empty string", rec.get("subject"))
    if wire.parse_time(rec.get("time")) is None:
        raise HealthError("time", "UTC ISO 8601 with milliseconds and Z", rec.get("time"))
    win = _object(rec, "window")
    if not _int(win.get("start")) or win.get("len") != 0 or not _int(win.get("len")):
        raise HealthError("window", '{"start": int, "len": 0}', win)
    for k in ("boot", "uptime_s"):
        _count(rec, k)
    if not isinstance(rec.get("version"), str) or not rec["version"] or len(rec["version"]) > 64:
        raise HealthError("version", "a non-empty string of at most 64 characters", rec.get("version"))
    clock = _object(rec, "clock")
    if not isinstance(clock.get("synced"), bool):
        raise HealthError("clock.synced", "true or false", clock.get("synced"))
    _object(rec, "backlog")
    for k in ("batches", "records", "pending_indicators"):
        _count(rec, f"backlog.{k}")
    _count(rec, "backlog.oldest_unacked_s", optional=True)
    dev = _object(rec, "devices")
    for k in ("total", "healthy", "unhealthy", "starting", "identified"):
        _count(rec, f"devices.{k}", optional=k in ("starting", "identified"))
    if (dev.get("identified") or 0) > dev["total"]:
        raise HealthError("devices.identified", "at most devices.total", dev.get("identified"))
    if dev["healthy"] + dev["unhealthy"] + (dev.get("starting") or 0) != dev["total"]:
        raise HealthError("devices", "healthy + unhealthy + starting == total", dev)
    errors = dev.get("errors")
    if not isinstance(errors, dict) or len(errors) > MAX_ERROR_KINDS or not all(
            isinstance(k, str) and _int(v) and v >= 0 for k, v in errors.items()):
        raise HealthError("devices.errors", f"an object of at most {MAX_ERROR_KINDS} error kinds -> count", errors)
    store = _object(rec, "store")
    days = store.get("days_left")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int | float) or days < 0):
        raise HealthError("store.days_left", "a number >= 0 or null (not known yet)", days)
    consent = _object(rec, "consent")
    if consent.get("last_change") is not None and wire.parse_time(consent["last_change"]) is None:
        raise HealthError("consent.last_change", "UTC ISO 8601 with milliseconds and Z, or null",
                          consent.get("last_change"))
    if consent.get("event") is not None and not isinstance(consent["event"], str):
        raise HealthError("consent.event", "a string or null", consent.get("event"))
    for k in RESERVED:
        if k in rec and not isinstance(rec[k], dict):
            raise HealthError(k, "an object (reserved for a later version)", rec[k])
    return rec
