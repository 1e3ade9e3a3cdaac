"""Findings and alerts, hash-chained per enterprise: a deleted or edited one is a visible gap.

The receiver writes findings and alerts; nothing the gateway signs covers them, so without
a chain an operator could delete one and re-sign the pages. Each stored finding and alert
carries ``prev`` (the hash of the enterprise's previous finding, resp. alert; 64 zeros for
the first) and its own ``hash``::

    hash = sha256(canonical_json({"chain": "finding" | "alert", <fields>, "detail_sha256": ..., "prev": ...}))

``<fields>`` are the served item's fields except ``id``, ``detail`` and ``withheld``
(:data:`FIELDS`), and ``detail_sha256`` is the sha256 of the canonical JSON of ``detail``:
the hash still checks when a category-limited bank is served the item without its detail.
The id is left out because it is assigned on insert; order is what the chain proves.

The same rule is used by the receiver when it stores (:func:`link`) and by a bank's
verifier (:class:`ChainCheck`); this module imports only the standard library and
``gateway.wire``, so a bank vendors it with ``feed_verify.py``. (The gateway's consent
audit log is chained the same way, but the receiver may not import the runtime.)
"""

from __future__ import annotations

import hashlib
from typing import Any

from cloud_stub.texts import msg
from gateway import wire

GENESIS = "0" * 64
FIELDS = {
    "finding": ("kind", "severity", "enterprise_id", "gateway_id", "created", "rule_version", "subscore",
                "window_start", "window_end"),
    "alert": ("enterprise_id", "kind", "level", "created"),
    # A bank's private chains (cloud_stub/bank_chain.py): one per (enterprise, bank); ``bank`` is hashed too,
    # so an item cannot be moved into another bank's chain.
    "bank_finding": ("kind", "severity", "enterprise_id", "bank", "created", "rule_version", "subscore",
                     "window_start", "window_end"),
    "bank_alert": ("enterprise_id", "bank", "kind", "level", "created"),
}
_TABLE = {"finding": "findings", "alert": "alerts", "bank_finding": "bank_findings", "bank_alert": "bank_alerts"}


def detail_sha256(detail: Any) -> str:
    return hashlib.sha256(wire.canonical_json(detail)).hexdigest()


def entry_hash(chain: str, item: dict[str, Any], detail_sha: str, prev: str) -> str:
    """The hash of one finding or alert (``item`` holds at least :data:`FIELDS`\\ [chain])."""
    doc = {"chain": chain, **{k: item.get(k) for k in FIELDS[chain]}, "detail_sha256": detail_sha, "prev": prev}
    return hashlib.sha256(wire.canonical_json(doc)).hexdigest()


def link(conn: Any, chain: str, item: dict[str, Any], detail: Any) -> tuple[str, str]:
    """``(prev, hash)`` for a new row of ``chain`` about to be inserted in the caller's transaction.
    The enterprise's chains are keyed by ``item["enterprise_id"]``; a bank's (``bank_finding``,
    ``bank_alert``) by it and ``item["bank"]``.

    The caller serialises writers of one enterprise (SQLite: one writer; PostgreSQL: the
    enterprise row lock), so the tip read here is still the tip at insert.
    """
    ent = item.get("enterprise_id")
    where = "enterprise_id = ?" if ent is not None else "enterprise_id IS NULL"
    args: tuple[Any, ...] = (ent,) if ent is not None else ()
    if chain.startswith("bank_"):  # keyed by (enterprise, bank)
        where, args = where + " AND bank_id = ?", (*args, item["bank"])
    row = conn.execute(f"SELECT hash FROM {_TABLE[chain]} WHERE {where} AND hash IS NOT NULL ORDER BY id DESC LIMIT 1",
                       args).fetchone()
    prev = row[0] if row is not None else GENESIS
    return prev, entry_hash(chain, item, detail_sha256(detail), prev)


# The chains' and feeds' names as the verifier's failure texts say them: in English the word of the feed's path
# (what --json has always said), rendered in the reader's language where printed.
CHAIN_NOUNS = {"finding": msg("finding"), "alert": msg("alert")}
FEED_NAMES = {"records": msg("records"), "scores": msg("scores"), "indicators": msg("indicators"),
              "findings": msg("findings"), "alerts": msg("alerts"), "access-log": msg("access-log"),
              "facilities": msg("facilities"), "portfolio": msg("portfolio")}


class ChainCheck:
    """A bank's check of one enterprise's findings (or alerts) feed, page after page and run after run.

    ``tip`` is the last verified ``[id, hash]`` of an earlier run (None: from the start).
    Every item must carry ``prev`` = the hash of the item before it and a ``hash`` that covers
    its fields and its detail; an unchained item (stored before chaining) may only come
    before the first chained one.
    """

    def __init__(self, chain: str, tip: list[Any] | None = None) -> None:
        self.chain = chain
        self.tip: list[Any] | None = list(tip) if tip else None
        self.last = self.tip[1] if self.tip else None

    def check(self, items: list[dict[str, Any]]) -> list[str]:
        """Problems with these items (the next ones of the feed), each naming the item."""
        out: list[str] = []
        noun = CHAIN_NOUNS.get(self.chain, self.chain)
        for it in items:
            where = msg("{chain} {id} ({kind})", chain=noun, id=it.get("id"), kind=it.get("kind"))
            h, prev = it.get("hash"), it.get("prev")
            if h is None:
                if self.last is not None:
                    out.append(msg("{where}: not hash-chained, after chained {chain}s (edited or inserted)",
                                   where=where,
                                   chain=noun))
                continue
            served_sha = it.get("detail_sha256")
            if "detail" in it:
                try:
                    real = detail_sha256(it["detail"])
                except wire.WireError as exc:
                    out.append(msg("{where}: detail is not canonical JSON: {error}", where=where, error=exc))
                    continue
                if served_sha != real:
                    out.append(msg("{where}: detail_sha256 does not match its detail (detail edited)", where=where))
                    served_sha = real
            if not isinstance(served_sha, str):
                out.append(msg("{where}: no detail_sha256", where=where))
                continue
            if entry_hash(self.chain, it, served_sha, str(prev)) != h:
                out.append(msg("{where}: hash does not cover its fields (edited)", where=where))
            expected = self.last if self.last is not None else GENESIS
            if prev != expected:
                why = msg("a {chain} before it was deleted or edited", chain=noun) if expected != GENESIS \
                    else msg("the first {chain} was deleted", chain=noun)
                out.append(msg("{where}: prev is not the hash of the {chain} before it ({why})", where=where,
                               chain=noun, why=why))
            self.last = str(h)
            self.tip = [it.get("id"), str(h)]
        return out
