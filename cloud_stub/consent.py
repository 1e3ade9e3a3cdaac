"""The enterprise's signed consent, as the receiver obeys it.

The operator's bank grant (``bank_grants``) is the receiver operator's word; the consent
records the gateway signs (``type = "consent"``, docs/privacy-consent.md) are the
enterprise's. A bank is served only the intersection of the two:

* each gateway's **latest** consent record counts (acceptance order, which is chain order);
  the enterprise's consent is the union over its gateways. A revocation is a new latest
  record, so it takes effect for past and future records from the moment it is accepted;
* a record's ``recipients`` entries say which bank (``to``; ``"*"`` any bank) may receive
  which categories until when (an entry past its ``until`` gives nothing, even when the
  gateway is offline and could not announce the expiry). A record from a gateway older than
  ``recipients`` gives ``allowed - denied`` to every name in ``to`` (none named: any bank);
* a bank that no consent record of the enterprise ever named is not authorised at all
  (403, and the enterprise is not listed for it); a bank named before but not by the latest
  consent is served only what every authorised bank sees (consent and declaration records:
  why the data stopped), every other batch withheld;
* an enterprise none of whose gateways ever signed a consent record (profiles without
  ``[consent]``, chains from before consent records) is served by the operator grant alone;
  ``cloud consent`` and ``cloud bank add`` say so (docs/privacy-consent.md, "Old chains").
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("edgeproof.cloud.consent")

ALL = "*"
CONSENT_NAME = "consent.change"
# What "every category but the revoked ones" is for a record from a gateway that predates
# ``recipients`` (the gateway's own list, gateway/consent/policy.KNOWN_CATEGORIES).
KNOWN_CATEGORIES = frozenset({"energy", "machine", "env", "water", "gas", "collateral", "vision", "data_quality",
                              "mes", "erp"})


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _str_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def entries(record: dict[str, Any]) -> list[tuple[str, frozenset[str], float | None]]:
    """``(to, categories, until)`` for each recipient a consent record names."""
    recips = record.get("recipients")
    if isinstance(recips, list):
        out = []
        for r in recips:
            if isinstance(r, dict) and isinstance(r.get("to"), str):
                out.append((r["to"] or ALL, frozenset(_str_list(r.get("categories"))), _epoch(r.get("until"))))
        return out
    allowed, denied = set(_str_list(record.get("allowed"))), set(_str_list(record.get("denied")))
    if ALL in denied:
        cats: set[str] = set()
    elif ALL in allowed and denied:
        cats = set(KNOWN_CATEGORIES) - denied
    else:
        cats = allowed - denied
    until = _epoch(record.get("until"))
    return [(to or ALL, frozenset(cats), until) for to in (_str_list(record.get("to")) or [ALL])]


@dataclass
class EnterpriseConsent:
    """What an enterprise's gateways signed: the latest record per gateway, and every name ever named."""

    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # gateway -> latest consent record
    ever_named: set[str] = field(default_factory=set)

    @property
    def exists(self) -> bool:
        return bool(self.latest)

    def named_ever(self, bank_id: str) -> bool:
        return bank_id in self.ever_named or ALL in self.ever_named

    def categories_for(self, bank_id: str, now: float) -> frozenset[str]:
        """The categories the latest consent gives ``bank_id`` now (may hold ``"*"``)."""
        out: set[str] = set()
        for rec in self.latest.values():
            for to, cats, until in entries(rec):
                if (to in (bank_id, ALL)) and (until is None or now < until):
                    out |= cats
        return frozenset(out)


def load(conn: Any, enterprise_id: str) -> EnterpriseConsent:
    """Every consent record of the enterprise, in acceptance order (the name index finds them)."""
    ec = EnterpriseConsent()
    # Sorted here, not by ORDER BY id: that lets a planner walk the (enterprise_id, id) index over every
    # record of the enterprise instead of the (enterprise_id, name, ...) one over its consent records.
    rows = conn.execute(
        "SELECT id, gateway_id, record FROM records WHERE enterprise_id = ? AND name = ? AND type = 'consent'",
        (enterprise_id, CONSENT_NAME),
    ).fetchall()
    for _id, gw, text in sorted(rows, key=lambda r: r[0]):
        try:
            rec = json.loads(text)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        ec.latest[gw] = rec
        ec.ever_named |= {to for to, _c, _u in entries(rec)}
    return ec


@dataclass(frozen=True)
class Effective:
    """A bank's grant after consent. ``categories`` None means all; ``status`` one of
    ``consent`` (limited by signed consent), ``no_consent`` (no consent record: the operator
    grant alone), ``not_named`` (consent exists and never named this bank: nothing served)."""

    categories: frozenset[str] | None
    status: str
    granted: frozenset[str] | None
    consented: frozenset[str] | None

    @property
    def wider(self) -> list[str]:
        """What the operator granted beyond the consent (``["*"]``: everything outside it)."""
        if self.status == "no_consent":
            return []
        if self.status == "not_named":
            return [ALL] if self.granted is None else sorted(self.granted)
        if self.granted is None:
            return [] if self.categories is None else [ALL]
        return sorted(self.granted - (self.categories or frozenset()))

    def as_dict(self) -> dict[str, Any]:
        def show(c: frozenset[str] | None) -> list[str] | None:
            return None if c is None else ([ALL] if ALL in c else sorted(c))
        return {"status": self.status, "granted": show(self.granted) if self.granted is not None else [ALL],
                "consented": show(self.consented), "served": show(self.categories) if self.categories is not None
                else [ALL], "wider_than_consent": self.wider}


def effective(ec: EnterpriseConsent, bank_id: str, granted: frozenset[str] | None, now: float) -> Effective:
    """The intersection of the operator grant (None: all) and the enterprise's consent for ``bank_id``."""
    if not ec.exists:
        return Effective(granted, "no_consent", granted, None)
    if not ec.named_ever(bank_id):
        return Effective(frozenset(), "not_named", granted, frozenset())
    consented = ec.categories_for(bank_id, now)
    cats = granted if ALL in consented else consented if granted is None else granted & consented
    return Effective(cats, "consent", granted, consented)


def report_wider(bank_id: str, enterprise_id: str, wider: list[str], status: str) -> None:
    """Log (warning) a grant wider than the enterprise's consent: the operator should narrow it."""
    if wider:
        log.warning("bank grant wider than the enterprise's signed consent: the excess is withheld",
                    extra={"bank": bank_id, "enterprise": enterprise_id, "status": status, "withheld": wider})


def limited_views(conn: Any, enterprise_id: str, now: float | None = None) -> list[frozenset[str]]:
    """The category sets the enterprise's live bank grants are served, where limited (score views)."""
    now = time.time() if now is None else now
    ec = load(conn, enterprise_id)
    out = []
    for bank_id, stored in conn.execute("SELECT bank_id, categories FROM bank_grants WHERE enterprise_id = ?"
                                        " AND revoked_at IS NULL", (enterprise_id,)).fetchall():
        granted = None if stored == ALL else frozenset(c for c in stored.split(",") if c)
        eff = effective(ec, bank_id, granted, now)
        if eff.categories is not None and eff.status != "not_named":
            out.append(eff.categories)
    return out
