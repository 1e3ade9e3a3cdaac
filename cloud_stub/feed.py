"""The bank feed: pages of records with everything a bank needs to check them itself.

Each records page carries the records (id, gateway, seq, index, batch hash, replayed, the
record), every batch those records come from once (body bytes, signature, key id), a
stub for every batch the bank may not see (``withheld``), and the receiver's signature
over the page's shape: ``{"enterprise_id", "cursor", "next_cursor", "record_ids",
"batch_hashes", "locators", "withheld"}`` where ``locators`` is ``[[id, batch_hash,
index], ...]``. Record contents are not repeated in the signed part: they are bound by
the gateway's signature over the batch body, and the locator says which element of
which body each record is.

Categories: a batch body can only be shown whole (the gateway signed all of it), so a
batch is shown only when the bank's grant covers every category in it; otherwise only a
stub ``{hash, gateway_id, seq, categories, record_count, dropped, kid, prev, head_sig}``
is served, in the place the batch's records would have been, so the bank can still follow
the chain. ``head_sig`` is the gateway's signature of the batch head (wire.batch_head),
which the stub's fields spell out: the bank checks where the withheld batch sits in the
chain and which categories it holds with the gateway's key, not on the receiver's word.

Batches without records would otherwise never be seen by a bank and look like a gap in
the chain, so each is placed on the page whose record-id range covers the moment it was
accepted (``batches.rec_pos``).

The other feeds (indicators, findings, scores, alerts, enterprises) are signed whole:
``page_signature = wire.sign_report(page without page_signature)``.

Cursor: opaque, stable: base64url of ``<kind>:<last id>`` (``r`` records, ``i``
indicators, ``f`` findings, ``s`` scores, ``a`` alerts). A cursor is only valid for the
feed that issued it. Pages follow id order (acceptance order for records).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from nacl.signing import SigningKey

from cloud_stub import access_log, feed_chain
from cloud_stub.banks import Grant
from cloud_stub.db import ReceiverDB
from cloud_stub.errors import ReceiverError
from gateway import wire

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
CHUNK = 500
SQL_INT_MIN, SQL_INT_MAX = -(2**63), 2**63 - 1  # what an integer column holds on both stores
CHAIN_FINDINGS = frozenset({"equivocation", "gap_declared", "gap_observed", "gap_filled", "stale_seq",
                            "rejected_batch"})


def encode_cursor(last_id: int, kind: str = "r") -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, kind: str = "r") -> int:
    """The last id a cursor stands for; 400 ``bad_cursor`` for anything this feed did not issue."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        prefix = f"{kind}:"
        digits = raw[len(prefix):]
        if raw.startswith(prefix) and digits.isascii() and digits.isdigit() and len(digits) < 20 \
                and int(digits) <= SQL_INT_MAX:
            return int(digits)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise ReceiverError("bad_cursor", "cursor is not one this receiver issued for this feed", 400, status="error")


def check_limit(limit: int, maximum: int = MAX_LIMIT) -> None:
    if not 1 <= limit <= maximum:
        raise ReceiverError("bad_limit", f"limit must be 1..{maximum}", 400, status="error")


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def batch_categories(conn: Any, hashes: list[str]) -> dict[str, set[str]]:
    """Every category present in each batch (wire.record_category: a record's non-empty category, else its
    type; ingest stores an empty category as none, so ``coalesce`` gives the same)."""
    out: dict[str, set[str]] = defaultdict(set)
    for chunk in _chunks(hashes):
        marks = ",".join("?" * len(chunk))
        for h, cat in conn.execute(
            f"SELECT DISTINCT batch_hash, coalesce(category, type) FROM records WHERE batch_hash IN ({marks})",
            chunk,
        ):
            out[h].add(cat)
    return out


def name_categories(conn: Any, enterprise_id: str, names: set[str]) -> dict[str, set[str]]:
    """The categories each indicator name was delivered under for this enterprise."""
    out: dict[str, set[str]] = defaultdict(set)
    wanted = sorted(names)
    for chunk in _chunks(wanted):
        marks = ",".join("?" * len(chunk))
        for name, cat in conn.execute(
            f"SELECT DISTINCT name, category FROM records WHERE enterprise_id = ? AND name IN ({marks})",
            [enterprise_id, *chunk],
        ):
            if cat is not None:
                out[name].add(cat)
    return out


def indicators_visible(grant: Grant, names: Iterable[str], cats: dict[str, set[str]]) -> bool:
    """Whether every named indicator is of a granted category.

    A name never delivered for this enterprise falls back to its prefix (``energy.kwh`` ->
    ``energy``), which errs on the side of hiding.
    """
    if grant.categories is None:
        return True
    for name in names:
        found = cats.get(name) or {str(name).split(".", 1)[0]}
        if not grant.allows_all(found):
            return False
    return True


def page_rows(conn: Any, table: str, columns: str, enterprise_id: str, after: int,
              limit: int) -> tuple[list[Any], bool]:
    """Up to ``limit`` of an enterprise's rows of ``table`` after id ``after``, in id order, and
    whether more follow (one row more is fetched to know). Table and columns are ours, not input."""
    rows = conn.execute(
        f"SELECT {columns} FROM {table} WHERE enterprise_id = ? AND id > ? ORDER BY id LIMIT ?",
        (enterprise_id, after, limit + 1),
    ).fetchall()
    return rows[:limit], len(rows) > limit


def sign_page(page: dict[str, Any], signing_key: SigningKey) -> dict[str, Any]:
    """``page`` plus ``page_signature`` over all of it (and noted in the access log: what was returned)."""
    access_log.note_page(page)
    return {**page, "page_signature": wire.sign_report(page, signing_key)}


# -- records ---------------------------------------------------------------------------------


def feed_page(
    rdb: ReceiverDB, grant: Grant, cursor: str | None, limit: int, signing_key: SigningKey
) -> dict[str, Any]:
    """One signed page of the grant's enterprise's records after ``cursor``."""
    check_limit(limit)
    enterprise_id = grant.enterprise_id
    after = decode_cursor(cursor)
    with rdb.read() as conn:
        rows, more = page_rows(conn, "records", "id, gateway_id, seq, idx, batch_hash, record, replayed",
                               enterprise_id, after, limit)
        last = rows[-1][0] if rows else after
        empty_sql = (
            "SELECT hash FROM batches WHERE enterprise_id = ? AND record_count = 0 AND rec_pos >= ?"
            + (" AND rec_pos < ?" if more else "") + " ORDER BY id"
        )
        empty_args: tuple[Any, ...] = (enterprise_id, after, last) if more else (enterprise_id, after)
        referenced = list(dict.fromkeys([r[4] for r in rows]))
        cats = batch_categories(conn, referenced)
        shown = [h for h in referenced if grant.allows_all(cats[h])]
        hidden = [h for h in referenced if not grant.allows_all(cats[h])]
        hashes = shown + [r[0] for r in conn.execute(empty_sql, empty_args)]
        batches: dict[str, dict[str, str]] = {}
        for chunk in _chunks(hashes):
            marks = ",".join("?" * len(chunk))
            for h, body, sig, kid in conn.execute(
                f"SELECT hash, body, sig, kid FROM batches WHERE hash IN ({marks})", chunk
            ):
                batches[h] = {"body": wire.b64(body), "sig": wire.b64(sig), "kid": kid}
        stubs: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(hidden):
            marks = ",".join("?" * len(chunk))
            for h, gw, seq, count, body, kid, head_sig in conn.execute(
                f"SELECT hash, gateway_id, seq, record_count, body, kid, head_sig FROM batches"
                f" WHERE hash IN ({marks})", chunk
            ):
                stubs[h] = _stub(h, gw, seq, count, bytes(body), kid, head_sig, cats[h])
    visible = set(hashes)
    rows = [r for r in rows if r[4] in visible]
    withheld = [stubs[h] for h in hidden]
    next_cursor = encode_cursor(last) if more else None
    records = [
        {"id": r[0], "gateway_id": r[1], "seq": r[2], "index": r[3], "batch_hash": r[4],
         "replayed": bool(r[6]), "record": json.loads(r[5])}
        for r in rows
    ]
    signed = {
        "enterprise_id": enterprise_id,
        "cursor": cursor or None,
        "next_cursor": next_cursor,
        "record_ids": [r[0] for r in rows],
        "batch_hashes": hashes,
        "locators": [[r[0], r[4], r[3]] for r in rows],
        "withheld": withheld,
    }
    # every record id (what the bank saw); batches as a count, their ids are the records' batch ids
    access_log.note_returned({"kind": "records", "cursor": cursor or None, "records": signed["record_ids"],
                              "batches": len(hashes), "withheld": len(withheld)}, enterprise_id)
    return {
        "enterprise_id": enterprise_id,
        "cursor": cursor or None,
        "records": records,
        "batches": {h: batches[h] for h in hashes},
        "withheld": withheld,
        "next_cursor": next_cursor,
        # Where to resume polling later even when next_cursor is null (end of feed for now).
        "resume_cursor": encode_cursor(last) if last else None,
        "page_signature": wire.sign_report(signed, signing_key),
    }


def _stub(h: str, gw: str, seq: int, count: int, body: bytes, kid: str, head_sig: bytes | None,
          cats: set[str]) -> dict[str, Any]:
    """What a bank is told of a batch it may not see. With the gateway's head signature
    (``head_sig``) the stub's fields are the signed head (wire.batch_head) and the bank checks
    them with the gateway's key; without one (a batch from a gateway that predates head
    signatures) they are the receiver's word."""
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        obj = {}
    stub: dict[str, Any] = {"hash": h, "gateway_id": gw, "seq": seq, "categories": sorted(cats),
                            "record_count": count, "dropped": wire.declared_gap(obj), "kid": kid, "prev": None,
                            "head_sig": None}
    if head_sig is not None and obj:
        head = wire.batch_head(obj, h)
        stub.update(categories=head["categories"], record_count=head["records"], dropped=head["dropped"],
                    prev=head["prev"], head_sig=wire.b64(bytes(head_sig)))
    return stub


# -- indicators ------------------------------------------------------------------------------


def indicators_page(
    rdb: ReceiverDB, grant: Grant, signing_key: SigningKey, *, cursor: str | None, limit: int,
    name: str | None = None, subject: str | None = None, start: int | None = None, end: int | None = None,
) -> dict[str, Any]:
    """Decoded indicator values of granted categories, in acceptance order, each with its batch locator.

    ``start``/``end`` bound the window start: ``start <= window.start < end`` (Unix seconds).
    Indicators of a batch that also holds ungranted categories are left out, like the batch.
    """
    check_limit(limit)
    after = decode_cursor(cursor, "i")
    if start is not None and end is not None and end <= start:
        raise ReceiverError("bad_request", "'to' must be after 'from'", 400, status="error")
    sql = ("SELECT r.id, r.gateway_id, r.seq, r.idx, r.batch_hash, r.record, r.replayed FROM records r"
           " WHERE r.enterprise_id = ? AND r.type = 'indicator' AND r.id > ?")
    args: list[Any] = [grant.enterprise_id, after]
    for clause, value in (("r.name = ?", name), ("r.subject = ?", subject),
                          ("r.window_start >= ?", start), ("r.window_start < ?", end)):
        if value is not None:
            sql += f" AND {clause}"
            args.append(value)
    if grant.categories is not None and not grant.categories:
        sql += " AND 1 = 0"  # nothing granted (consent withdrawn): an empty IN () is not PostgreSQL
    elif grant.categories is not None:
        marks = ",".join("?" * len(grant.categories))
        sql += f" AND r.category IN ({marks})"
        args += sorted(grant.categories)
    sql += " ORDER BY r.id LIMIT ?"
    args.append(limit + 1)
    with rdb.read() as conn:
        rows = conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        shown: set[str] | None = None
        if grant.categories is not None:  # a batch mixing in an ungranted category is withheld whole
            cats = batch_categories(conn, list(dict.fromkeys(r[4] for r in rows)))
            shown = {h for h, c in cats.items() if grant.allows_all(c)}
    items = []
    for rid, gw, seq, idx, h, text, replayed in rows:
        if shown is not None and h not in shown:
            continue
        rec = json.loads(text)
        item = {"id": rid, "name": rec.get("name"), "subject": rec.get("subject"), "category": rec.get("category"),
                "window": rec.get("window"), "value": rec.get("value"), "unit": rec.get("unit"),
                "quality": rec.get("q", []), "def": rec.get("def"), "replayed": bool(replayed),
                "gateway_id": gw, "seq": seq, "batch_hash": h, "index": idx}
        if "detail" in rec:
            item["detail"] = rec["detail"]
        items.append(item)
    # Paging counts the rows read, shown or not, so a cursor never skips or repeats one.
    return _list_page("indicators", grant, cursor, rows, more, after, "i", items, signing_key,
                      filters={"name": name, "subject": subject, "from": start, "to": end})


def _list_page(
    kind: str, grant: Grant, cursor: str | None, rows: list[Any], more: bool, after: int, prefix: str,
    items: list[dict[str, Any]], signing_key: SigningKey, **extra: Any,
) -> dict[str, Any]:
    last = rows[-1][0] if rows else after
    page = {
        "kind": kind,
        "enterprise_id": grant.enterprise_id,
        "cursor": cursor or None,
        **extra,
        "items": items,
        "next_cursor": encode_cursor(last, prefix) if more else None,
        "resume_cursor": encode_cursor(last, prefix) if last else None,
    }
    return sign_page(page, signing_key)


# -- findings, alerts, scores ----------------------------------------------------------------


def _finding_names(detail: Any) -> list[str]:
    """Indicator names a finding (or an alert's finding) is about."""
    if not isinstance(detail, dict):
        return []
    names = detail.get("indicators")
    if not isinstance(names, list) and isinstance(detail.get("finding"), dict):
        names = detail["finding"].get("indicators")
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _alert_names(conn: Any, grant: Grant, details: list[Any]) -> list[list[str]]:
    """The indicator names behind each alert: its own, or those of the finding it names by dedupe key.

    Only looked up for a category-limited grant (an all-categories grant sees every detail).
    """
    if grant.categories is None:
        return [[] for _ in details]
    keys = sorted({d["finding"] for d in details if isinstance(d, dict) and isinstance(d.get("finding"), str)})
    by_key: dict[str, list[str]] = {}
    for chunk in _chunks([f"{grant.enterprise_id}/{k}" for k in keys] + keys):
        marks = ",".join("?" * len(chunk))
        for dedupe, text in conn.execute(
            f"SELECT dedupe, detail FROM findings WHERE enterprise_id = ? AND dedupe IN ({marks})",
            [grant.enterprise_id, *chunk],
        ):
            by_key[dedupe.removeprefix(f"{grant.enterprise_id}/")] = _finding_names(json.loads(text))
    out = []
    for d in details:
        names = _finding_names(d)
        if isinstance(d, dict) and isinstance(d.get("finding"), str):
            # A finding this receiver cannot find is treated as about every category: hidden.
            names += by_key.get(d["finding"], ["?unknown"])
        out.append(names)
    return out


# Findings about one bank's facility (``extra.bank``): coverage and covenant breaches (issue 15). New ones go to
# the bank's private chain (cloud_stub/bank_chain.py); these serve those an older receiver stored here.
BANK_FINDINGS = ("collateral_coverage", "repay_covenants")


def other_banks(kind: str, detail: Any, bank_id: str) -> bool:
    """A coverage finding or margin-call alert about another bank's facility (issue 15): that bank's data,
    so its detail is withheld from every other bank (the item stays, so the hash chain still checks)."""
    if kind in BANK_FINDINGS and isinstance(detail, dict) and isinstance(detail.get("extra"), dict):
        return detail["extra"].get("bank") != bank_id
    if kind == "margin_call" and isinstance(detail, dict):
        return detail.get("bank") != bank_id
    return False


def findings_page(
    rdb: ReceiverDB, grant: Grant, signing_key: SigningKey, *, cursor: str | None, after_id: int | None,
    limit: int,
) -> dict[str, Any]:
    """Chain findings (always shown whole) and rule findings (detail withheld outside the grant).

    A rule finding whose indicators include an ungranted category is listed with its rule,
    version, severity, subscore and window but without ``detail`` (``withheld: true``): the
    score a bank sees is built from it, so its existence is not hidden, its numbers are.
    """
    check_limit(limit, 10_000)
    after = decode_cursor(cursor, "f") if cursor else (after_id or 0)
    if after < 0:
        raise ReceiverError("bad_request", "'after' must be >= 0", 400, status="error")
    with rdb.read() as conn:
        rows, more = page_rows(conn, "findings", "id, kind, severity, enterprise_id, gateway_id, detail, created,"
                               " rule_version, subscore, window_start, window_end, prev, hash", grant.enterprise_id,
                               after, limit)
        details = [json.loads(r[5]) for r in rows]
        names = {n for d in details for n in _finding_names(d)}
        cats = name_categories(conn, grant.enterprise_id, names) if names and grant.categories is not None else {}
    items = []
    for r, detail in zip(rows, details, strict=True):
        item: dict[str, Any] = {
            "id": r[0], "kind": r[1], "severity": r[2], "enterprise_id": r[3], "gateway_id": r[4],
            "created": r[6], "rule_version": r[7], "subscore": r[8], "window_start": r[9], "window_end": r[10],
            "prev": r[11], "hash": r[12], "detail_sha256": feed_chain.detail_sha256(detail),
        }
        if other_banks(r[1], detail, grant.bank_id):
            item["withheld"] = True
        elif r[1] in CHAIN_FINDINGS or indicators_visible(grant, _finding_names(detail), cats):
            item["detail"] = detail
        else:
            item["withheld"] = True
        items.append(item)
    # ``findings`` repeats ``items`` under the name this feed used before it was paged with cursors.
    return _list_page("findings", grant, cursor, rows, more, after, "f", items, signing_key, findings=items)


def alerts_page(
    rdb: ReceiverDB, grant: Grant, signing_key: SigningKey, *, cursor: str | None, limit: int,
    after_id: int | None = None,
) -> dict[str, Any]:
    """Alerts, all of them (a bank must act on them); detail withheld when it names ungranted indicators.

    ``after_id`` (when no cursor) starts after that alert id: a bank checks that the last alert
    an earlier run verified is still served (feed_chain.py)."""
    check_limit(limit, 10_000)
    after = decode_cursor(cursor, "a") if cursor else (after_id or 0)
    if after < 0:
        raise ReceiverError("bad_request", "'after' must be >= 0", 400, status="error")
    with rdb.read() as conn:
        rows, more = page_rows(conn, "alerts", "id, kind, level, detail, created, prev, hash", grant.enterprise_id,
                               after, limit)
        details = [json.loads(r[3]) for r in rows]
        names_of = _alert_names(conn, grant, details)
        names = {n for ns in names_of for n in ns}
        cats = name_categories(conn, grant.enterprise_id, names) if names else {}
    items = []
    for r, detail, alert_names in zip(rows, details, names_of, strict=True):
        item: dict[str, Any] = {"id": r[0], "enterprise_id": grant.enterprise_id, "kind": r[1], "level": r[2],
                                "created": r[4], "prev": r[5], "hash": r[6],
                                "detail_sha256": feed_chain.detail_sha256(detail)}
        if other_banks(r[1], detail, grant.bank_id):
            item["withheld"] = True
        elif indicators_visible(grant, alert_names, cats):
            item["detail"] = detail
        else:
            item["withheld"] = True
        items.append(item)
    return _list_page("alerts", grant, cursor, rows, more, after, "a", items, signing_key)


def _redact_report(report: Any, grant: Grant, cats: dict[str, set[str]]) -> tuple[Any, list[str]]:
    """The report with every finding about ungranted indicators replaced by a stub; the stubs' keys."""
    redacted: list[str] = []

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "rule" in node and isinstance(node.get("indicators"), list) \
                    and not indicators_visible(grant, _finding_names(node), cats):
                stub = {k: node.get(k) for k in ("rule", "version", "severity", "subscore", "key", "window")}
                redacted.append(f"{node.get('rule')}:v{node.get('version')}:{node.get('key')}")
                return {**stub, "withheld": True}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(report), redacted


def _report_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = set(_finding_names(node)) if "rule" in node else set()
        for v in node.values():
            out |= _report_names(v)
        return out
    if isinstance(node, list):
        out = set()
        for v in node:
            out |= _report_names(v)
        return out
    return set()


def _score_item(row: tuple[Any, ...], grant: Grant, conn: Any, signing_key: SigningKey) -> dict[str, Any]:
    """One stored score, served with a receiver signature a bank can check with the receiver key alone.

    For an all-categories grant that is the signature made when the score was computed. For a
    narrower grant, findings about ungranted indicators inside the report are replaced by stubs
    and the result is signed now (the stored signature embeds the full report, so it cannot be
    shown); ``redacted`` then names the original report's hash and the withheld findings.
    """
    sid, as_of, created, text, sig_text = row
    report = json.loads(text)
    signature = json.loads(sig_text)
    item: dict[str, Any] = {"id": sid, "enterprise_id": grant.enterprise_id, "as_of": as_of, "created": created}
    if grant.categories is not None and isinstance(report, dict):
        # The bank's own category view (computed on only what it is shown, so it can recompute
        # it: docs/scoring.md "Category views") is served whole as ``view``; other views not at all.
        views = report.pop("views", None)
        view = views.get(",".join(sorted(grant.categories))) if isinstance(views, dict) else None
        names = _report_names(report)
        cats = name_categories(conn, grant.enterprise_id, names) if names else {}
        shown, withheld = _redact_report(report, grant, cats)
        if withheld or views is not None:
            original = wire.batch_hash(wire.canonical_json({**report, "views": views} if views is not None
                                                           else report))
            shown = {**shown, "redacted": {"original_sha256": original, "withheld_findings": sorted(set(withheld)),
                                           "categories": grant.granted()}}
            if view is not None:
                shown["view"] = view
            report, signature = shown, wire.sign_report(shown, signing_key)
    for k in ("score", "grade", "warning_level"):
        item[k] = report.get(k) if isinstance(report, dict) else None
    item["report"] = report
    item["signature"] = signature
    return item


def scores_page(
    rdb: ReceiverDB, grant: Grant, signing_key: SigningKey, *, cursor: str | None, limit: int,
) -> dict[str, Any]:
    """Score reports in the order they were computed, each with its receiver signature."""
    check_limit(limit, 1000)
    after = decode_cursor(cursor, "s")
    with rdb.read() as conn:
        rows, more = page_rows(conn, "scores", "id, as_of, created, report, signature", grant.enterprise_id, after,
                               limit)
        items = [_score_item(tuple(r), grant, conn, signing_key) for r in rows]
    return _list_page("scores", grant, cursor, rows, more, after, "s", items, signing_key)


def latest_score(rdb: ReceiverDB, grant: Grant, signing_key: SigningKey) -> dict[str, Any]:
    """The most recently computed score; 404 ``no_score`` when none was computed yet."""
    with rdb.read() as conn:
        row = conn.execute(
            "SELECT id, as_of, created, report, signature FROM scores WHERE enterprise_id = ?"
            " ORDER BY id DESC LIMIT 1",
            (grant.enterprise_id,),
        ).fetchone()
        if row is None:
            raise ReceiverError("no_score", "no score has been computed for this enterprise yet", 404,
                                status="error")
        item = _score_item(tuple(row), grant, conn, signing_key)
    return sign_page({"kind": "score", "enterprise_id": grant.enterprise_id, "item": item}, signing_key)
