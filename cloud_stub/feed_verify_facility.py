"""Feed-verify checks V47-V50 (docs/wire-format.md §9 and §19): a bank's facilities, their coverage and its
portfolio, as the receiver serves them.

What they make visible: a page the receiver did not sign or signed for another enterprise or bank; a
facility of another bank shown to this one; a coverage whose level does not follow from its own numbers
and thresholds, or that claims a value where it says nothing was observed; a portfolio that leaves out or
adds an enterprise, is not ordered worst first, or states a score or a coverage other than the ones the
scores feed and the facilities pages served. The ``# check Vn`` tags are at the calls in feed_verify.py.

Imports only ``gateway.wire``, the standard library and the verifier's helpers (feed_chain, texts), like
feed_verify.py, so a bank can vendor it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloud_stub.feed_chain import FEED_NAMES
from cloud_stub.texts import msg
from gateway import wire

Fail = Callable[[str], None]
RANK = {"red": 4, "orange": 3, "yellow": 2, "not_observed": 1, "green": 0, "ok": 0}
ROUNDING = 0.005  # coverage is served to 2 decimals; the level was decided on the exact ratio


def _same(a: Any, b: Any) -> bool:
    try:
        return wire.canonical_json({"v": a}) == wire.canonical_json({"v": b})
    except (wire.WireError, TypeError, ValueError):
        return False


def _name(kind: str) -> Any:
    """The page's name as the failure says it (feed_chain.FEED_NAMES: rendered in the reader's language)."""
    return FEED_NAMES.get(kind, kind)


def signed_page(page: Any, receiver_pk: bytes, kind: str, fail: Fail, **want: Any) -> bool:
    """The page is signed whole by the receiver key, is a ``kind`` page and has the fields ``want``."""
    try:
        signed = wire.verify_report(page["page_signature"], receiver_pk)
    except (wire.WireError, KeyError, TypeError, ValueError) as exc:
        fail(msg("{kind} page: receiver signature: {error}", kind=_name(kind), error=exc))
        return False
    if not _same(signed, {k: v for k, v in page.items() if k != "page_signature"}):
        fail(msg("{kind} page: the signature does not cover the page as received", kind=_name(kind)))
        return False
    wrong = {k: page.get(k) for k, v in want.items() if page.get(k) != v}
    if page.get("kind") != kind or wrong:
        fail(msg("{kind} page: not a {kind} page for {want} (got kind {got}, {wrong})", kind=_name(kind), want=want,
                 got=repr(page.get("kind")), wrong=wrong))
        return False
    return True


def level_of(coverage: float, thresholds: dict[str, Any]) -> str:
    for lv in ("red", "orange", "yellow"):
        if coverage < float(thresholds[lv]):
            return lv
    return "ok"


def check_facility(item: Any, enterprise: str, bank: str, fail: Fail) -> None:
    """V48: one facility item: this enterprise's, this bank's; its coverage follows from its own numbers."""
    fid = item.get("facility_id") if isinstance(item, dict) else None
    where = msg("facility {facility}", facility=fid)
    if not isinstance(item, dict) or item.get("enterprise_id") != enterprise or item.get("bank") != bank:
        fail(msg("{where}: not a facility of {bank} to {enterprise}", where=where, bank=bank, enterprise=enterprise))
        return
    c = item.get("coverage")
    if c is None:
        return  # not assessed yet
    try:
        if c["facility_id"] != fid or c["bank"] != bank or c["enterprise_id"] != enterprise:
            fail(msg("{where}: its coverage is another facility's", where=where))
            return
        cov, lv, flags = c["coverage"], c["level"], c["flags"]
        if cov is None:
            if c["value_range"] is not None and float(c["outstanding"]) > 0:
                fail(msg("{where}: a value without a coverage", where=where))
            if lv not in ("not_observed", "ok") or (lv == "not_observed" and "no_data" not in flags):
                fail(msg("{where}: coverage not observed but level {level} / flags {flags}", where=where, level=lv,
                         flags=flags))
        else:
            if "no_data" in flags or c["value_range"] is None:
                fail(msg("{where}: a coverage {coverage} from data flagged not observed", where=where, coverage=cov))
            ok = {level_of(float(cov) - ROUNDING, c["thresholds"]), level_of(float(cov) + ROUNDING, c["thresholds"])}
            if lv not in ok:
                fail(msg("{where}: level {level} does not follow from coverage {coverage} and thresholds {thresholds}",
                         where=where, level=lv, coverage=cov, thresholds=c["thresholds"]))
            lo, hi = c["value_range"]
            value = float(cov) * float(c["outstanding"])
            slack = ROUNDING * float(c["outstanding"])
            if value + slack < float(lo) or (hi is not None and value - slack > float(hi)):
                fail(msg("{where}: coverage {coverage} x outstanding {outstanding} is outside the value range "
                         "{low}-{high}",
                         where=where, coverage=cov, outstanding=c["outstanding"], low=lo, high=hi))
        if bool(c["stale_prices"]) != ("stale_price" in flags):
            fail(msg("{where}: stale prices {stale} but flags {flags}", where=where, stale=c["stale_prices"],
                     flags=flags))
    except (KeyError, TypeError, ValueError) as exc:
        fail(msg("{where}: malformed coverage ({kind}: {error})", where=where, kind=type(exc).__name__, error=exc))


def _rank(e: dict[str, Any]) -> tuple[int, float, str]:
    auth = e.get("authenticity") or {}
    rep = e.get("repayment") or {}
    worst = max(RANK.get(str(auth.get("warning_level")), 0),
                RANK.get(str(rep.get("warning_level") or rep.get("level")), 0),
                RANK.get(str((e.get("coverage") or {}).get("worst_level")), 0))
    score = auth.get("score")
    return (-worst, float(score) if isinstance(score, int | float) else -1.0, str(e.get("enterprise_id")))


def check_portfolio_entries(page: dict[str, Any], served: list[str], fail: Fail) -> None:
    """V49 (after the signature): the portfolio lists exactly the enterprises the signed enterprises page
    serves this bank (terminated ones aside)."""
    listed = [e.get("enterprise_id") for e in page.get("enterprises", []) if isinstance(e, dict)]
    if sorted(listed, key=str) != sorted(served) or len(set(listed)) != len(listed):
        fail(msg("portfolio: lists {listed}, the bank is served {served}", listed=sorted(listed, key=str),
                  served=sorted(served)))


def check_portfolio_numbers(page: dict[str, Any], facilities: dict[str, dict[str, Any]],
                            scores: dict[str, dict[str, Any] | None], fail: Fail) -> None:
    """V50: worst first; each entry's score is the latest score served to this bank and each facility's
    coverage and level those of the facilities page (``facilities``: enterprise -> facility id -> coverage)."""
    ents = [e for e in page.get("enterprises", []) if isinstance(e, dict)]
    if [_rank(e) for e in ents] != sorted(_rank(e) for e in ents):
        fail(msg("portfolio: not ordered worst first"))
    for e in ents:
        ent = e.get("enterprise_id")
        if ent in scores:
            s, a = scores[ent], e.get("authenticity")
            want = None if s is None else {"score_id": s.get("id"), "score": s.get("score")}
            got = None if not isinstance(a, dict) else {"score_id": a.get("score_id"), "score": a.get("score")}
            if not _same(got, want):
                fail(msg("portfolio: {enterprise}: authenticity {got} is not the latest score served ({want})",
                         enterprise=ent, got=got, want=want))
        if ent in facilities:
            mine = {fid: c for fid, c in facilities[ent].items() if c is not None}
            shown = {f.get("facility_id"): f for f in (e.get("coverage") or {}).get("facilities", [])}
            if set(shown) != set(mine):
                fail(msg("portfolio: {enterprise}: facilities {shown}, the facilities page has {mine}", enterprise=ent,
                         shown=sorted(shown, key=str), mine=sorted(mine)))
            for fid in set(shown) & set(mine):
                if not (_same(shown[fid].get("coverage"), mine[fid].get("coverage"))
                        and _same(shown[fid].get("level"), mine[fid].get("level"))):
                    fail(msg("portfolio: {enterprise}: facility {facility}: coverage/level differ from the facilities "
                             "page",
                             enterprise=ent, facility=fid))
