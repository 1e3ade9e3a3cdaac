"""The device identity record (``"type": "device_identity"``): which physical meter a device is.

A register map may declare identity registers (serial number, model code, firmware version;
drivers/modbus/identity.py). The gateway reads them at start, after a recovery and daily, and signs
one of these records into its chain when it sees a device's identity for the first time
(``event: "first_seen"``) or when it differs from the last one it signed (``"changed"``, with
``previous``): a meter swapped for another, or a simulator answering instead of the meter. Ids
only (the device as a keyed token, its asset as subject), never a reading. Category ``health``:
shown to every bank the enterprise authorised, like the health summary, because it says whether
the other figures come from the meters declared.

The receiver keeps the latest per (gateway, device) and raises findings for a changed serial and
for one serial seen on two devices or two gateways (cloud_stub/meter_identity.py, the rule
``meter_identity``).

Standard library and :mod:`gateway.wire` only: the receiver and a bank's verifier import it.
"""

from __future__ import annotations

from typing import Any

from gateway import wire

IDENTITY_VERSION = 1
TYPE = "device_identity"
NAME = "device.identity"
CATEGORY = "health"
FIELDS = ("serial", "model", "firmware")
EVENTS = ("first_seen", "changed")
MAX_LEN = 64


class IdentityError(ValueError):
    """A malformed identity record; ``path`` is the key that is wrong, ``expected`` what it should be."""

    def __init__(self, path: str, expected: str, got: Any = None) -> None:
        self.path, self.expected = path, expected
        super().__init__(f"{path}: expected {expected}, got {repr(got)[:80]}")


def identity_record(*, device: str, subject: str, driver: str, model_map: str | None, ts: float,
                    identity: dict[str, str], previous: dict[str, str] | None) -> dict[str, Any]:
    """One record as the gateway signs it: ``first_seen`` without ``previous``, else ``changed``.

    ``device`` is the site's keyed token of the device's name (``d_...``: stable on this site, meaningless
    elsewhere; device names stay on site like in health summaries); ``subject`` is its asset, the subject its
    indicators already carry, so a bank can tell which figures the meter stands behind."""
    rec: dict[str, Any] = {
        "type": TYPE, "name": NAME, "category": CATEGORY, "subject": subject, "v": IDENTITY_VERSION,
        "window": {"start": int(ts), "len": 0}, "time": wire.format_time(ts), "device": device,
        "driver": driver, "map": model_map, "event": "first_seen" if previous is None else "changed",
        "identity": dict(identity), "previous": dict(previous) if previous is not None else None,
    }
    return check_identity(rec)


def _short(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= MAX_LEN and v.isprintable()


def _ident(rec: dict[str, Any], key: str, *, optional: bool) -> None:
    v = rec.get(key)
    if v is None and optional:
        return
    if (not isinstance(v, dict) or not set(v) <= set(FIELDS)
            or not all(_short(x) for x in v.values())):
        raise IdentityError(key, f"an object of {list(FIELDS)} -> printable strings of 1..{MAX_LEN} characters"
                            + (" (or null)" if optional else ""), v)


def check_identity(rec: Any) -> dict[str, Any]:
    """``rec`` if it is a well-formed identity record of a version this code knows; else :class:`IdentityError`."""
    if not isinstance(rec, dict):
        raise IdentityError("record", "an object", rec)
    if rec.get("type") != TYPE or rec.get("name") != NAME or rec.get("category") != CATEGORY:
        raise IdentityError("type/name/category", f"{TYPE!r}/{NAME!r}/{CATEGORY!r}",
                            [rec.get("type"), rec.get("name"), rec.get("category")])
    if not isinstance(rec.get("v"), int) or isinstance(rec.get("v"), bool) or rec["v"] != IDENTITY_VERSION:
        raise IdentityError("v", f"{IDENTITY_VERSION} (the identity record versions this code knows)", rec.get("v"))
    for k in ("subject", "device", "driver"):
        if not _short(rec.get(k)):
            raise IdentityError(k, f"a printable string of 1..{MAX_LEN} characters", rec.get(k))
    if rec.get("map") is not None and not _short(rec["map"]):
        raise IdentityError("map", f"a printable string of 1..{MAX_LEN} characters or null", rec.get("map"))
    if wire.parse_time(rec.get("time")) is None:
        raise IdentityError("time", "UTC ISO 8601 with milliseconds and Z", rec.get("time"))
    win = rec.get("window")
    if not isinstance(win, dict) or not isinstance(win.get("start"), int) or win.get("len") != 0:
        raise IdentityError("window", '{"start": int, "len": 0}', win)
    if rec.get("event") not in EVENTS:
        raise IdentityError("event", f"one of {list(EVENTS)}", rec.get("event"))
    _ident(rec, "identity", optional=False)
    if not rec["identity"]:
        raise IdentityError("identity", "at least one of " + str(list(FIELDS)), rec["identity"])
    _ident(rec, "previous", optional=rec["event"] == "first_seen")
    if rec["event"] == "first_seen" and rec.get("previous") is not None:
        raise IdentityError("previous", "null for a first sighting", rec.get("previous"))
    return rec
