"""A bank's facilities (loans) to an enterprise: amount, drawn balance, term, covenants, pledged goods.

The bank's own data, kept only on the receiver: nothing here is ever sent to a gateway, and
every read and write names the bank, so a bank sees and changes only its own facilities (an
operator's CLI names the bank too). A facility is what coverage is measured against
(cloud_stub/collateral_value.py): ``outstanding`` = the drawn balance.

The document a bank sends (API body, ``cloud facility add --file``) is validated with msgspec; every
error names the key and what was expected, and nothing partly valid is stored.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import msgspec

from cloud_stub.db import iso, utc_now
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg

ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DEFAULT_LEVELS = {"yellow": 1.3, "orange": 1.15, "red": 1.0}  # coverage below these raises the level


class Pledge(msgspec.Struct, forbid_unknown_fields=True):
    """Pledged goods: the collateral subject the gateway measures, what they are and how they are priced."""

    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]  # e.g. "warehouse-a" (collateral.* subject)
    product_class: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]  # the price series' key
    indicator: str = "collateral.weight_kg"  # the quantity: a weight (kg) or a count of units
    unit: str = "kg"  # the unit of the indicator and of the price ("kg" or "unit")
    price_source: str = "csv"  # where this class's prices come from (csv or an adapter's name)


class Covenants(msgspec.Struct, forbid_unknown_fields=True):
    """Covenants the bank set; ``margin_call`` are the coverage levels (value / outstanding) below which
    a margin-call warning of that colour is raised (yellow > orange > red)."""

    min_coverage: Annotated[float, msgspec.Meta(gt=0)] | None = None
    margin_call: dict[str, Annotated[float, msgspec.Meta(gt=0)]] | None = None
    max_concentration_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] | None = None
    min_monthly_output: Annotated[float, msgspec.Meta(ge=0)] | None = None
    max_price_age_days: Annotated[float, msgspec.Meta(gt=0)] = 3.0
    max_weight_age_hours: Annotated[float, msgspec.Meta(gt=0)] = 24.0


class FacilityDoc(msgspec.Struct, forbid_unknown_fields=True):
    """What a bank states about one facility (docs/receiver.md, "Facilities")."""

    enterprise_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    amount: Annotated[float, msgspec.Meta(ge=0)]
    drawn: Annotated[float, msgspec.Meta(ge=0)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] = "CNY"
    term_start: str | None = None
    term_end: str | None = None
    covenants: Covenants = msgspec.field(default_factory=Covenants)
    pledges: list[Pledge] = msgspec.field(default_factory=list)


def levels(cov: dict[str, Any]) -> dict[str, float]:
    """The margin-call thresholds of a facility's covenants: explicit ``margin_call``, else ``min_coverage``
    as the yellow line (orange and red from the defaults, never above it), else the defaults."""
    if cov.get("margin_call"):
        return {k: float(cov["margin_call"][k]) for k in ("yellow", "orange", "red")}
    out = dict(DEFAULT_LEVELS)
    if cov.get("min_coverage"):
        y = float(cov["min_coverage"])
        out = {"yellow": y, "orange": min(out["orange"], y), "red": min(out["red"], y)}
    return out


def parse(doc: Any, where: str = "facility") -> dict[str, Any]:
    """A validated facility document as plain JSON; ReceiverError 400 naming the key otherwise."""
    try:
        raw = doc if isinstance(doc, bytes | str) else msgspec.json.encode(doc)
        fac = msgspec.json.decode(raw, type=FacilityDoc)
    except (msgspec.ValidationError, msgspec.DecodeError, TypeError) as exc:
        raise ReceiverError("bad_facility", msg("{where}: {exc}", where=where, exc=exc), 400, status="error") from None
    out: dict[str, Any] = msgspec.to_builtins(fac)
    if out["drawn"] > out["amount"]:
        raise ReceiverError("bad_facility", msg("{where}: $.drawn ({drawn}) exceeds $.amount ({amount})", where=where,
                                                drawn=out['drawn'], amount=out['amount']),
                            400, status="error")
    mc = out["covenants"].get("margin_call")
    if mc is not None and (set(mc) != {"yellow", "orange", "red"}
                           or not mc["yellow"] >= mc["orange"] >= mc["red"]):
        raise ReceiverError("bad_facility", msg("{where}: $.covenants.margin_call: expected yellow >= orange >= "
                                                "red (all three), got {mc}", where=where, mc=mc), 400, status="error")
    for i, p in enumerate(out["pledges"]):
        if p["unit"] not in ("kg", "unit"):
            raise ReceiverError("bad_facility", msg("{where}: $.pledges[{i}].unit: expected 'kg' or 'unit', got "
                                                    "{unit}", where=where, i=i,
                                                    unit=repr(p['unit'])), 400, status="error")
    return out


def _check_id(facility_id: str) -> None:
    if not isinstance(facility_id, str) or not re.match(ID_RE, facility_id):
        raise ReceiverError("bad_facility", msg("facility id: expected {id_re}, got {facility_id}", id_re=ID_RE,
                                                facility_id=repr(facility_id)), 400, status="error")


def _row(r: tuple[Any, ...]) -> dict[str, Any]:
    return {"facility_id": r[1], "bank": r[0], "enterprise_id": r[2], "currency": r[3], "amount": r[4],
            "drawn": r[5], "outstanding": r[5], "term_start": r[6], "term_end": r[7],
            "covenants": json.loads(r[8]), "pledges": json.loads(r[9]), "created": r[10], "updated": r[11],
            "removed_at": r[12]}


COLUMNS = ("bank_id, id, enterprise_id, currency, amount, drawn, term_start, term_end, covenants, pledges,"
           " created, updated, removed_at")


def put(rdb: Any, bank_id: str, facility_id: str, doc: Any, *, create: bool | None = None) -> dict[str, Any]:
    """Add (``create`` True), update (False) or upsert (None) one facility of ``bank_id``.

    The enterprise must serve this bank (a live grant its consent names the bank in, as the feed): a
    bank cannot attach facilities to, and so probe, enterprises it does not serve (403, as the feed)."""
    _check_id(facility_id)
    fac = parse(doc)
    now = iso(utc_now())
    from cloud_stub.banks import bank_enterprises

    served = {e["enterprise_id"] for e in bank_enterprises(rdb, bank_id) if not e.get("terminated")}
    if fac["enterprise_id"] not in served:  # a live grant the enterprise's signed consent names this bank in
        raise ReceiverError("forbidden", msg("this bank is not authorised for that enterprise"), 403, status="error")
    with rdb.write() as conn:
        old = conn.execute("SELECT created, removed_at, enterprise_id FROM facilities WHERE bank_id = ? AND id = ?",
                           (bank_id, facility_id)).fetchone()
        live = old is not None and old[1] is None
        if create is True and live:
            raise ReceiverError("facility_exists", msg("facility {facility_id} exists: use update",
                                                       facility_id=facility_id), 409, status="error")
        if create is False and not live:
            raise ReceiverError("unknown_facility", msg("no facility {facility_id} of bank {bank_id}",
                                                        facility_id=facility_id, bank_id=bank_id), 404,
                                status="error")
        if live and old[2] != fac["enterprise_id"]:
            raise ReceiverError("bad_facility", msg("facility {facility_id} belongs to {old}: the enterprise of a "
                                                    "facility cannot change (remove it and add a new one)",
                                                    facility_id=facility_id, old=old[2]), 400, status="error")
        vals = (fac["enterprise_id"], fac["currency"], fac["amount"], fac["drawn"], fac["term_start"],
                fac["term_end"], json.dumps(fac["covenants"], sort_keys=True), json.dumps(fac["pledges"]))
        if old is None:
            conn.execute(f"INSERT INTO facilities ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                         (bank_id, facility_id, *vals, now, now))
        else:
            conn.execute("UPDATE facilities SET enterprise_id = ?, currency = ?, amount = ?, drawn = ?,"
                         " term_start = ?, term_end = ?, covenants = ?, pledges = ?, updated = ?, removed_at = NULL"
                         " WHERE bank_id = ? AND id = ?", (*vals, now, bank_id, facility_id))
        row = conn.execute(f"SELECT {COLUMNS} FROM facilities WHERE bank_id = ? AND id = ?",
                           (bank_id, facility_id)).fetchone()
    return _row(tuple(row))


def remove(rdb: Any, bank_id: str, facility_id: str) -> dict[str, Any]:
    """Mark a facility removed (kept for the history its findings refer to); 404 when it is not live."""
    _check_id(facility_id)
    with rdb.write() as conn:
        cur = conn.execute("UPDATE facilities SET removed_at = ? WHERE bank_id = ? AND id = ? AND removed_at IS NULL",
                           (iso(utc_now()), bank_id, facility_id))
        if cur.rowcount != 1:
            raise ReceiverError("unknown_facility", msg("no facility {facility_id} of bank {bank_id}",
                                                        facility_id=facility_id, bank_id=bank_id), 404,
                                status="error")
        conn.execute("DELETE FROM facility_coverage WHERE bank_id = ? AND facility_id = ?", (bank_id, facility_id))
    return {"facility_id": facility_id, "bank": bank_id, "removed": True}


def list_for(conn: Any, bank_id: str, enterprise_id: str | None = None) -> list[dict[str, Any]]:
    """The bank's live facilities (of one enterprise, or all), ordered by enterprise and id."""
    q = f"SELECT {COLUMNS} FROM facilities WHERE bank_id = ? AND removed_at IS NULL"
    args: tuple[Any, ...] = (bank_id,)
    if enterprise_id is not None:
        q, args = q + " AND enterprise_id = ?", (bank_id, enterprise_id)
    return [_row(tuple(r)) for r in conn.execute(q + " ORDER BY enterprise_id, id", args).fetchall()]


def list_facilities(rdb: Any, bank_id: str, enterprise_id: str | None = None) -> list[dict[str, Any]]:
    with rdb.read() as conn:
        return list_for(conn, bank_id, enterprise_id)
