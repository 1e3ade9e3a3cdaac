"""A bank's verifier for the receiver's feed: trust the gateways' signatures, not the receiver.

The checks are those of docs/wire-format.md §9 (V1, V2, ...), made in the same order; each is tagged in
the code with its id (a ``# check Vn`` comment), and tests/cloud/test_wire_format_checks.py holds the
two to the same ids in the same order. A new check is a new item there and a tag here.

Imports only ``gateway.wire``, the standard library and PyNaCl (through wire), besides its own
small helpers (feed_verify_*.py, feed_chain.py, access_log_chain.py, and texts.py, which makes each
failure an English ``str`` that remembers its template for the CLI's translation), so a bank can vendor
these files and wire alone. For every record it checks, itself:

* the batch body hashes to the batch hash the record names, and the gateway's
  Ed25519 signature over those body bytes holds under a key enrolled for that gateway
  (``wire.verify``), and the body names this enterprise, the gateway and seq the
  record claims;
* the record equals ``decoded body["records"][index]``, its ``replayed`` flag says what the
  signed body says (a ``replay`` object), and no (batch, index) or record id appears twice;
  every record of every batch shown was delivered (nothing silently left out);
* per gateway, the batches (shown or withheld) form one chain: seq 1 first, then for each
  shown batch ``prev`` = hash of the batch before it, shown or withheld; gaps pass only
  where the gateway declared ``"dropped": [first, last]``; two batches with one seq is
  equivocation. A withheld batch whose stub carries the gateway's head signature is checked
  like a shown one (its signed head gives its seq, prev, categories, record count and
  declared gap); one without (a gateway that predates head signatures) only through the
  next batch's signed ``prev`` (see docs/wire-format.md: what is and is not proven);
* a batch is withheld only if it holds a category the bank's grant does not cover (by its
  signed head where it has one);
* each page's receiver signature (records, indicators, findings, alerts, scores,
  enterprises) covers that page as received (``wire.verify_report``), against a pinned
  receiver key when one is given;
* each score report's own receiver signature covers the report served;
* every indicator in the indicators feed is the record it points to, and every indicator
  record shown appears there;
* freshness (``feed_verify_heads``): the chain served reaches each gateway's latest signed
  head statement, a stated head names the served batch's hash, the receiver's head did not
  go back since an earlier run, and from a gateway's ``heads_from`` no withheld stub lacks its
  head signature;
* findings and alerts are hash-chained (across pages, and across runs with a state file),
  and what score reports refer to (their stated chain findings, findings and red alerts) is
  served (``feed_verify_refs.py``);
* the bank's facilities, coverage and portfolio (``feed_verify_facility.py``), its private findings
  and alerts chains and each covenant's latest result against the facility's terms and that chain
  (``feed_verify_bank.py``).

The receiver serves the gateway keys too; a bank that wants to be independent of it
should compare them with keys it learnt at enrollment (``key_pins``).

The records feed is checked as it streams in (memory grows by a few hundred bytes per
record, not by the feed). With ``since`` (an enterprise's entry of a
``feed_verify_state`` file) a run is incremental: it starts at the last clean run's
cursors, continues each gateway's chain from its verified tip and pins the keys seen.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Container, Iterator
from typing import Any

from cloud_stub import feed_verify_bank as fvb
from cloud_stub import feed_verify_disputes as fvd
from cloud_stub import feed_verify_facility as fvf
from cloud_stub import feed_verify_orders as fvo
from cloud_stub.access_log_chain import GENESIS as ACCESS_GENESIS
from cloud_stub.access_log_chain import entry_hash as access_entry_hash
from cloud_stub.feed_chain import FEED_NAMES
from cloud_stub.feed_verify_heads import Heads
from cloud_stub.feed_verify_refs import ReceiverWord
from cloud_stub.texts import msg
from gateway import wire

HARDWARE_LEVELS = ("tpm", "tpm-attested")  # cloud_stub/key_attestation.py: keys that cannot be copied

# Record categories every authorised bank sees (cloud_stub/banks.py says why).
ALWAYS_VISIBLE = frozenset({"consent", "declaration", "decommission", "dispute", "confirmation", "health"})

PAGE_LIMIT = 1000
# (verified bodies of a records page by batch hash, the page's records, ids that failed so far)
OnRecords = Callable[[dict[str, dict[str, Any]], list[dict[str, Any]], set[Any]], None]
MAX_FAILURES = 10_000
_ERRORS = (wire.WireError, KeyError, TypeError, ValueError, AttributeError)


class _Http:
    def __init__(self, base: str, token: str | None, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get(self, path: str, auth: bool = False) -> Any:
        req = urllib.request.Request(self.base + path, headers={"Accept": "application/json"})
        if auth and self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for attempt in range(6):
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace")
                if exc.code == 429 and attempt < 5:  # rate limited: wait as told (bounded), then the same request
                    retry = exc.headers.get("Retry-After", "1")
                    time.sleep(min(30.0, float(retry)) if retry.isdigit() else 1.0)
                    continue
                raise OSError(msg("HTTP {code} for {path}: {detail}", code=exc.code, path=path.split("?")[0],
                                  detail=detail)) from None
        raise AssertionError("unreachable")


class _Report:
    """Failures, counted as the summary counts them."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.feed_failures = 0

    def feed(self, message: str) -> None:
        self.feed_failures += 1
        self.note(message)

    def note(self, message: str) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(message)


def _receiver_key(http: _Http, pin: str | None, report: _Report) -> bytes:
    rkey = http.get("/v1/receiver/key")
    if pin and rkey.get("public_key") != pin:  # check V1
        report.feed(msg("receiver key served differs from the pinned key"))
    return wire.unb64(pin if pin else rkey["public_key"], "receiver key")


def same_json(a: Any, b: Any) -> bool:
    """Exact JSON equality: the same canonical encoding (docs/wire-format.md §2). Python's ``==``
    says ``True == 1`` and ``1 == 1.0``, so a receiver could serve ``1`` for a signed ``true``."""
    try:
        return wire.canonical_json({"v": a}) == wire.canonical_json({"v": b})
    except (wire.WireError, TypeError, ValueError):
        return False


def _records_signed_shape(page: dict[str, Any]) -> dict[str, Any]:
    """What the receiver's records-page signature must cover, recomputed from the page as received."""
    recs = page.get("records", [])
    return {
        "enterprise_id": page.get("enterprise_id"),
        "cursor": page.get("cursor"),
        "next_cursor": page.get("next_cursor"),
        "record_ids": [r.get("id") for r in recs],
        "batch_hashes": list(page.get("batches", {}).keys()),
        "locators": [[r.get("id"), r.get("batch_hash"), r.get("index")] for r in recs],
        "withheld": page.get("withheld", []),
    }


def _signed_get(http: _Http, path: str, receiver_pk: bytes) -> dict[str, Any]:
    """One page of a whole-signed feed, its signature checked (raises WireError otherwise)."""
    page = http.get(path, auth=True)
    _whole_page_signed(page, receiver_pk)
    return page  # type: ignore[no-any-return]


def _whole_page_signed(page: dict[str, Any], receiver_pk: bytes) -> None:
    """The other feeds are signed whole: the signature must cover exactly the page minus itself."""
    signed = wire.verify_report(page["page_signature"], receiver_pk)
    if not same_json(signed, {k: v for k, v in page.items() if k != "page_signature"}):  # check V2
        raise wire.WireError("page_mismatch", msg("signature does not cover this page as received"))


def _pages(http: _Http, path: str, report: _Report, receiver_pk: bytes, what: str, enterprise: str,
           page_limit: int, records_shape: bool = False, start: str | None = None) -> Iterator[dict[str, Any]]:
    """Every page of one feed from ``start`` (None: the beginning), following cursors; each
    page's receiver signature checked."""
    cursor: str | None = start
    seen: set[str | None] = set()
    n = 0
    while True:
        q = {"limit": str(page_limit)} | ({"cursor": cursor} if cursor else {})
        page = http.get(f"{path}?{urllib.parse.urlencode(q)}", auth=True)
        n += 1
        try:
            if records_shape:
                signed = wire.verify_report(page["page_signature"], receiver_pk)
                if not same_json(signed, _records_signed_shape(page)):  # check V3
                    raise wire.WireError("page_mismatch", msg("signature does not cover this page as received"))
            else:
                _whole_page_signed(page, receiver_pk)
            if page.get("enterprise_id") != enterprise or page.get("cursor") != cursor:  # check V4
                raise wire.WireError("page_mismatch", msg("page is for another enterprise or cursor"))
        except _ERRORS as exc:
            report.feed(msg("{what} page {n} (cursor {cursor}): receiver signature: {error}",
                            what=FEED_NAMES.get(what, what), n=n, cursor=cursor, error=exc))
        yield page
        seen.add(cursor)
        cursor = page.get("next_cursor")
        if cursor is None:
            return
        if cursor in seen:  # check V5
            report.feed(msg("{what} page {n}: next_cursor repeats an earlier cursor", what=FEED_NAMES.get(what, what),
                            n=n))
            return


def _grant(http: _Http, report: _Report, receiver_pk: bytes, enterprise: str | None) -> list[dict[str, Any]]:
    """The bank's grants as the receiver states them (signed): which enterprises, which categories."""
    page = http.get("/v1/feed/enterprises", auth=True)
    try:
        _whole_page_signed(page, receiver_pk)
    except _ERRORS as exc:
        report.feed(msg("enterprises page: receiver signature: {error}", error=exc))
    grants = list(page.get("enterprises", []))
    if enterprise is not None and not any(g.get("enterprise_id") == enterprise for g in grants):  # check V6
        report.feed(msg("enterprise {enterprise} is not among the enterprises that authorised this bank",
                        enterprise=enterprise))
    return grants


def verify_feed(
    url: str, enterprise: str, token: str, pin: str | None = None, *, page_limit: int = PAGE_LIMIT,
    timeout: float = 30.0, key_pins: dict[str, str] | None = None, since: dict[str, Any] | None = None,
    max_head_age: float | None = None,
    on_records: OnRecords | None = None, require_hardware_keys: bool = False,
) -> dict[str, Any]:
    """Pull every feed of ``enterprise`` and verify it; returns a summary dict.

    ``require_hardware_keys``: fail unless every live gateway key of the enterprise (the signed
    listing's ``key_protection``) and every key that signed a verified batch is ``tpm`` or
    ``tpm-attested`` (cloud_stub/key_attestation.py), so a bank can refuse copyable key files.

    ``since`` is this enterprise's state from an earlier verified run (``feed_verify_state``;
    ``{}`` for a first run): only what was added after it is pulled, chains continue from its
    tips, and the gateway keys it learnt are pinned. The summary then also carries
    ``"state"``, the state to keep if ``failed`` is 0, and ``"total_records"``.

    ``{"enterprise_id", "records", "batches", "withheld", "pages", "verified", "failed", "failures",
    "gateways", "declared_gaps", "scores", "indicators", "findings", "alerts", "categories"}``;
    ``failed`` counts records that did not verify plus feed-level failures (page or report
    signatures, chain breaks, withheld records). ``pin`` is the receiver's base64 public key;
    ``key_pins`` maps kid -> base64 gateway public key known out of band. ``on_records`` is called
    with each records page's verified bodies (hash -> decoded body), its records and the ids that
    failed so far (``feed rescore`` keeps what it needs to recompute a score).
    """
    http = _Http(url, token, timeout)
    report = _Report()
    summary: dict[str, Any] = {"enterprise_id": enterprise, "records": 0, "batches": 0, "withheld": 0,
                               "pages": 0, "verified": 0, "gateways": [], "declared_gaps": [], "scores": 0,
                               "indicators": 0, "findings": 0, "alerts": 0, "categories": None}
    try:
        receiver_pk = _receiver_key(http, pin, report)
        summary["receiver_key"] = wire.b64(receiver_pk)
        grants = _grant(http, report, receiver_pk, enterprise)
        cats = next((g.get("categories") for g in grants if g.get("enterprise_id") == enterprise), None)
        summary["categories"] = cats
        ended = next((g.get("terminated") for g in grants if g.get("enterprise_id") == enterprise), None)
        protection = next((g.get("key_protection") for g in grants if g.get("enterprise_id") == enterprise), None)
        summary["key_protection"] = protection
        if require_hardware_keys and not ended and protection not in HARDWARE_LEVELS:
            report.feed(msg("hardware keys required: the receiver's signed listing says {enterprise}'s weakest live "
                            "gateway key is {protection} (need one of {levels})", enterprise=enterprise,
                            protection=protection or "unknown", levels=", ".join(HARDWARE_LEVELS)))
        if ended:  # offboarded (cloud offboard): the signed listing says since when; there is no feed to pull
            summary["terminated"] = ended
            if since is not None:
                summary["state"] = since
        else:
            _verify_enterprise(http, report, receiver_pk, enterprise, cats, page_limit, key_pins, summary, since,
                               max_head_age=max_head_age, on_records=on_records,
                               require_hardware_keys=require_hardware_keys)
    except (urllib.error.URLError, OSError, ValueError, KeyError, wire.WireError) as exc:
        report.feed(msg("fetching the feed failed: {error}", error=exc))
    summary["failed"] = summary.pop("_failed_records", 0) + report.feed_failures
    summary["failures"] = report.failures
    return summary


def verify_all(url: str, token: str, pin: str | None = None, states: dict[str, dict[str, Any]] | None = None,
               **kw: Any) -> dict[str, Any]:
    """``verify_feed`` for every enterprise that authorised this bank; failures prefixed by enterprise.
    With ``states`` (enterprise -> state, see ``verify_feed``'s ``since``) each run is incremental;
    an enterprise not in it starts from the beginning."""
    http = _Http(url, token, kw.get("timeout", 30.0))
    report = _Report()
    summaries: list[dict[str, Any]] = []
    try:
        receiver_pk = _receiver_key(http, pin, report)
        grants = _grant(http, report, receiver_pk, None)
        summaries = [verify_feed(url, g["enterprise_id"], token, pin,
                                 since=None if states is None else states.get(g["enterprise_id"], {}), **kw)
                     for g in grants]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        report.feed(msg("listing the bank's enterprises failed: {error}", error=exc))
    if not summaries and not report.failures:
        report.feed(msg("no enterprise has authorised this bank"))
    portfolio_n = 0
    if summaries:
        try:  # V49-V50 (§16): the bank's portfolio against what the enterprises' pages served
            portfolio_n = _check_portfolio(http, report, receiver_pk,
                                           {s["enterprise_id"]: s.get("facility_coverage") or {} for s in summaries
                                            if "facility_coverage" in s})
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            report.feed(msg("portfolio: fetching failed: {error}", error=exc))
    failures = report.failures + [msg("{enterprise}: {failure}", enterprise=s["enterprise_id"], failure=f)
                                  for s in summaries for f in s["failures"]]
    return {
        "enterprises": summaries,
        "records": sum(s["records"] for s in summaries),
        "verified": sum(s["verified"] for s in summaries),
        "failed": report.feed_failures + sum(s["failed"] for s in summaries),
        "failures": failures,
        "portfolio": portfolio_n,
    }


def _verify_enterprise(
    http: _Http, report: _Report, receiver_pk: bytes, enterprise: str, granted: list[str] | None,
    page_limit: int, key_pins: dict[str, str] | None, summary: dict[str, Any], since: dict[str, Any] | None,
    max_head_age: float | None = None,
    on_records: OnRecords | None = None, require_hardware_keys: bool = False,
) -> None:
    """Stream every feed of one enterprise through the checks, page by page.

    Nothing is held for the whole feed but what the cross-checks need: per shown batch its
    head (gateway, seq, prev, declared gap, record count) and which indices were delivered,
    per verified indicator record the fields the indicators feed must repeat, and the stubs.
    Decoded batch bodies live only while their page is checked, so memory grows with the
    number of records by a few hundred bytes each, not by the feed's size (the whole feed in
    memory took ~4 kB per record).
    """
    ent = urllib.parse.quote(enterprise, safe="")
    prior = since or {}
    cursors: dict[str, str | None] = dict(prior.get("cursors") or {})
    keys = _Keys(http, enterprise, {**(prior.get("keys") or {}), **(key_pins or {})},
                 require_hardware=require_hardware_keys)
    state = _RecordState(floor=int(prior.get("max_record_id") or 0))
    state.indicators.update({int(k): v for k, v in (prior.get("pending_indicators") or {}).items()})
    stubs: dict[str, dict[str, Any]] = {}
    pages = 0
    # Before the records: an honest chain only grows, so what the heads page says now is covered
    # by the records read next (feed_verify_heads).
    heads = _fetch_heads(http, report, receiver_pk, ent, enterprise, prior.get("heads") or {})  # check V27
    word = ReceiverWord(prior)  # findings/alerts chains and what score reports refer to
    dispute_recs: dict[int, dict[str, Any]] = {}  # dispute and confirmation records of this run (V44)
    finding_items: dict[str, dict[str, Any]] = {}  # findings read in this run, by hash (V45)

    def records_pass() -> None:
        nonlocal pages
        for page in _pages(http, f"/v1/feed/{ent}/records", report, receiver_pk, "records", enterprise,
                           page_limit, records_shape=True, start=cursors.get("records")):
            pages += 1
            bodies = state.check_batches(report, enterprise, page.get("batches", {}), keys)
            state.check_records(report, page.get("records", []), bodies)
            dispute_recs.update({r["id"]: r for r in page.get("records", []) if isinstance(r, dict)
                                 and isinstance(r.get("record"), dict) and r["record"].get("type") in fvd.TYPES
                                 and isinstance(r.get("id"), int)})
            if on_records is not None:
                on_records(bodies, page.get("records", []), state.failed)
            for st in page.get("withheld", []):
                stubs.setdefault(st.get("hash"), st)
            cursors["records"] = page.get("resume_cursor") or cursors.get("records")

    records_pass()
    # Indicator records up to here (this pass, and an earlier run's pending ones) existed before
    # the indicators feed was read: it must list every one of them.
    must_upto = max(state.max_id, state.floor)

    counts: dict[str, int] = {}
    listed: set[Any] = set()
    later: list[dict[str, Any]] = []
    score_items: list[dict[str, Any]] = []  # for the order-progress checks, once the indicators are in (V55-V56)
    for what in ("findings", "alerts"):
        word.check_tip_still_served(what, lambda q, w=what: _signed_get(http, f"/v1/feed/{ent}/{w}?{q}", receiver_pk),
                                    report.feed)
    for what in ("scores", "indicators", "findings", "alerts"):
        n = 0
        cursor = cursors.get(what)
        for page in _pages(http, f"/v1/feed/{ent}/{what}", report, receiver_pk, what, enterprise,
                           min(page_limit, 1000), start=cursor):
            pages += 1
            items = page.get("items", [])
            if what == "indicators":
                n += _take_indicators(report, items, state, listed, later)
            else:
                if what == "scores":
                    _check_scores(report, items, receiver_pk, enterprise)
                    score_items.extend(i for i in items if isinstance(i, dict))
                word.take(what, items, report.feed)  # check V28
                if what == "findings":
                    finding_items.update({i["hash"]: i for i in items if isinstance(i, dict)
                                          and isinstance(i.get("hash"), str)})
                n += len(items)
            cursor = page.get("next_cursor") or page.get("resume_cursor") or cursor
        cursors[what] = cursor
        counts[what] = n
    if later:
        # Indicators of batches ingested after the records pass: catch the records feed up,
        # then check them like the others. What is still not a verified record is a failure.
        records_pass()
        _check_indicators(report, later, state.indicators, state.failed, listed)
    _check_indicators_complete(report, state.indicators, listed, must_upto)
    _check_order_progress(report, score_items, state.indicators)  # V55-V56 (§23)
    # The enterprise's disputes and confirmations, and this bank's decisions (§12.4).
    dpage = http.get(f"/v1/feed/{ent}/disputes", auth=True)
    ditems = fvd.check_page(dpage, receiver_pk, enterprise, report.feed)  # check V43
    fvd.check_records(ditems, {i: r for i, r in dispute_recs.items() if i not in state.failed}, state.floor,
                      report.feed)  # check V44
    fvd.check_findings(ditems, finding_items, not prior, report.feed)  # check V45
    fvd.check_decisions(ditems, receiver_pk, enterprise, dpage.get("bank"), report.feed)  # check V46
    counts["disputes"] = len(ditems)
    access_tip, cursors["access_log"], counts["access_log"] = _check_access_log(
        http, report, receiver_pk, ent, enterprise, min(page_limit, 1000), prior.get("access_log"),
        cursors.get("access_log"))
    fac_items: list[Any] = []
    facs = _check_facilities(http, report, receiver_pk, ent, enterprise, fac_items)  # V47-V48 (§16)
    counts["facilities"] = len(facs or {})
    summary["facility_coverage"] = facs or {}
    bank = _bank_of(http, report, receiver_pk)[0]
    private = fvb.BankChains(prior, enterprise, str(bank))
    private.know(list(word.findings.values()))  # an older receiver's coverage findings in the enterprise chain
    cursors.update(_check_bank_chains(http, report, receiver_pk, ent, enterprise, private, cursors,
                                      min(page_limit, 1000), counts))  # V51-V52 (§24)
    _check_covenants(report, fac_items, str(bank), private)  # V53-V54 (§24)
    pending = {rid: f for rid, f in state.indicators.items() if rid > must_upto and rid not in listed}

    word.check_refs(report.feed)
    signed_heads = _check_stub_heads(report, enterprise, stubs, keys)
    _check_withheld(report, stubs, state.shown, granted)
    tips = {gw: (int(t[0]), str(t[1])) for gw, t in (prior.get("chains") or {}).items()}
    summary["gateways"], summary["declared_gaps"], new_tips = _check_chains(
        report, state.heads, stubs, state.seen_locs, signed_heads, tips)
    summary["withheld_signed"] = len(signed_heads)
    served: dict[str, dict[int, str]] = defaultdict(dict)
    body_heads_from: dict[str, int] = {}
    for h, hd in state.heads.items():
        served[hd["gateway"]][hd["seq"]] = h
        if isinstance(hd.get("heads_from"), int):
            body_heads_from[hd["gateway"]] = min(body_heads_from.get(hd["gateway"], hd["heads_from"]),
                                                 hd["heads_from"])
    for h, st in stubs.items():
        if isinstance(st.get("gateway_id"), str) and isinstance(st.get("seq"), int):
            served[st["gateway_id"]].setdefault(st["seq"], str(h))
    all_tips = {**tips, **{gw: (int(t[0]), str(t[1])) for gw, t in new_tips.items()}}
    summary["heads"], summary["notices"], keep_heads = heads.check(
        report, enterprise, keys, served, all_tips, tips, body_heads_from, stubs, max_head_age)
    summary.update(counts)
    summary.update({"records": state.n_records, "batches": len(state.shown), "withheld": len(stubs),
                    "pages": pages, "verified": state.n_records - len(state.failed),
                    "_failed_records": len(state.failed), "indicators_pending": len(pending)})
    if since is not None:
        totals = {k: int((prior.get("totals") or {}).get(k, 0)) + int(summary[k])
                  for k in ("records", "batches", "withheld", "scores", "indicators", "findings", "alerts")}
        summary["total_records"] = totals["records"]
        summary["state"] = {
            "cursors": cursors,
            "max_record_id": max(state.max_id, state.floor),
            "chains": {**(prior.get("chains") or {}), **new_tips},
            "keys": keys.learnt(),
            "pending_indicators": {str(k): v for k, v in pending.items()},
            "totals": totals,
            "heads": {**(prior.get("heads") or {}), **keep_heads},
            **word.tips(),
            **private.tips(),
            "access_log": access_tip,
        }


def _fetch_heads(http: _Http, report: _Report, receiver_pk: bytes, ent: str, enterprise: str,
                 prior: dict[str, Any]) -> Heads:
    """The heads page (receiver-signed whole), or why it could not be had (an older receiver)."""
    try:
        page = http.get(f"/v1/feed/{ent}/heads", auth=True)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Heads(None, msg("the heads page could not be fetched: {error}", error=exc), prior)
    try:
        _whole_page_signed(page, receiver_pk)
        if page.get("enterprise_id") != enterprise:
            raise wire.WireError("page_mismatch", msg("page is for another enterprise"))
    except _ERRORS as exc:
        report.feed(msg("heads page: receiver signature: {error}", error=exc))
    return Heads(page, None, prior)


class _Keys:
    """The gateways' public keys, as the receiver serves them for this enterprise, checked
    against the bank's pins where it has any."""

    def __init__(self, http: _Http, enterprise: str, pins: dict[str, str] | None, require_hardware: bool = False
                 ) -> None:
        self.http, self.enterprise, self.pins = http, enterprise, pins or {}
        self.require_hardware = require_hardware
        self._served: dict[str, dict[str, str]] = {}
        self._protection: dict[str, str] = {}  # kid -> file / tpm / tpm-attested, as the receiver recorded it
        self._used: dict[str, str] = {}

    def get(self, gw: str, kid: str) -> bytes:
        if gw not in self._served:
            info = self.http.get(f"/v1/gateways/{urllib.parse.quote(gw, safe='')}/keys")
            self._served[gw] = {k["kid"]: k["public_key"] for k in info.get("keys", [])
                                if info.get("enterprise_id") == self.enterprise}
            self._protection.update({k["kid"]: str(k.get("protection") or "file") for k in info.get("keys", [])})
        served = self._served[gw].get(kid)
        pk = self.pins.get(kid) or served
        if pk is None:  # check V7: the key is enrolled for this gateway of this enterprise (or pinned)
            raise wire.WireError("unknown_key", msg("key {kid} is not enrolled for {gateway} of {enterprise}", kid=kid,
                                                     gateway=gw, enterprise=self.enterprise))
        if kid in self.pins and served not in (None, self.pins[kid]):
            raise wire.WireError("key_mismatch", msg("receiver serves a different key for {kid}", kid=kid))
        if self.require_hardware and self._protection.get(kid, "file") not in HARDWARE_LEVELS:
            raise wire.WireError("software_key", msg("key {kid} of {gateway} is protected by {protection} only; "
                                                     "hardware keys required", kid=kid, gateway=gw,
                                                     protection=self._protection.get(kid, "file")))
        self._used[kid] = pk
        return wire.unb64(pk, "gateway key")

    def learnt(self) -> dict[str, str]:
        """Every key pinned or used so far (kid -> base64), for the next run to pin."""
        return {**self.pins, **self._used}


_INDICATOR_FIELDS = (("name", "name"), ("subject", "subject"), ("category", "category"), ("window", "window"),
                     ("value", "value"), ("unit", "unit"), ("quality", "q"), ("def", "def"), ("detail", "detail"))
_LOCATOR_FIELDS = ("gateway_id", "seq", "batch_hash", "index", "replayed")


class _RecordState:
    """What the records pass keeps for the later checks (see ``_verify_enterprise``)."""

    def __init__(self, floor: int = 0) -> None:
        self.floor = floor  # records up to this id were verified by an earlier run
        self.max_id = 0
        self.shown: set[str] = set()  # every batch hash a records page carried
        self.heads: dict[str, dict[str, Any]] = {}  # verified batch -> gateway, seq, prev, dropped, records
        self.bad: dict[str, Exception] = {}  # batch hash -> why it failed
        self.seen_ids: set[Any] = set()
        self.seen_locs: dict[str, set[int]] = defaultdict(set)
        self.failed: set[Any] = set()
        self.indicators: dict[Any, str] = {}  # verified indicator record id -> its fields as JSON
        self.n_records = 0
        self._recent: dict[str, dict[str, Any]] = {}  # decoded bodies of the previous page's batches

    def check_batches(self, report: _Report, enterprise: str, page_batches: dict[str, dict[str, Any]],
                      keys: _Keys) -> dict[str, dict[str, Any]]:
        """Hash, gateway signature (body and, where sent, head) and enterprise of every batch on
        the page; returns the page's decoded bodies. A batch whose records straddle pages is on
        both and checked once."""
        bodies: dict[str, dict[str, Any]] = {}
        for h, b in page_batches.items():
            if h in self.bad:
                continue
            if h in self._recent:
                bodies[h] = self._recent[h]
                continue
            first = h not in self.shown
            self.shown.add(h)
            try:
                sb = wire.SignedBatch(body=wire.unb64(b["body"], "body"), sig=wire.unb64(b["sig"], "sig"),
                                      kid=b["kid"])
                if sb.hash != h:  # check V8
                    raise wire.WireError("bad_hash", msg("body does not hash to the batch hash"))
                gw = json.loads(sb.body).get("gateway")
                if not isinstance(gw, str):
                    raise wire.WireError("bad_body", msg("body names no gateway"))
                body = wire.verify(sb, keys.get(gw, sb.kid))  # check V9 (the key by check V7)
                if body["enterprise"] != enterprise or body["gateway"] != gw:  # check V10
                    raise wire.WireError("gateway_mismatch", msg("batch belongs to another enterprise"))
                head = {"gateway": body["gateway"], "seq": body["seq"], "prev": body["prev"],
                        "dropped": body.get("dropped"), "records": len(body["records"]),
                        "heads_from": wire.body_heads_from(body)}
                if not first and not same_json(self.heads.get(h), head):  # check V11
                    raise wire.WireError("page_mismatch", msg("served again with a different body"))
                self.heads[h] = head
                bodies[h] = body
            except (*_ERRORS, urllib.error.URLError, OSError) as exc:
                self.bad[h] = exc
                self.heads.pop(h, None)
                report.feed(msg("batch {batch}: {error}", batch=h[:16], error=exc))
        self._recent = bodies
        return bodies

    def check_records(self, report: _Report, records: list[dict[str, Any]],
                      bodies: dict[str, dict[str, Any]]) -> None:
        """Each record against its batch body (which must be on the same page)."""
        for r in records:
            self.n_records += 1
            rid, h, idx = r.get("id"), r.get("batch_hash"), r.get("index")
            problem = None
            if isinstance(rid, int) and rid > self.max_id:
                self.max_id = rid
            if rid in self.seen_ids:  # check V12
                problem = msg("record id delivered twice")
            elif not isinstance(rid, int) or isinstance(rid, bool) or rid <= self.floor:
                problem = msg("record id is not after {floor}, the last one an earlier run verified", floor=self.floor)
            elif h in self.bad:  # check V13
                problem = msg("its batch failed: {error}", error=self.bad[h])
            elif h not in bodies:
                problem = msg("its batch is not on the page")
            else:
                body = bodies[h]
                # check V14
                if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(body["records"]):
                    problem = msg("index {index} is outside the batch", index=idx)
                elif idx in self.seen_locs[h]:
                    problem = msg("batch {batch} index {index} delivered twice", batch=h[:16], index=idx)
                else:
                    self.seen_locs[h].add(idx)  # delivered (if altered, it fails below, but was not withheld)
                    if not same_json([r.get("gateway_id"), r.get("seq")], [body["gateway"], body["seq"]]):  # check V15
                        problem = msg("gateway_id/seq differ from the signed batch")
                    elif not same_json(r.get("record"), body["records"][idx]):  # check V16
                        problem = msg("record differs from the signed batch")
                    elif not same_json(r.get("replayed", False), isinstance(body.get("replay"), dict)):  # check V17
                        problem = msg("replayed flag differs from the signed batch (its 'replay' object)")
            self.seen_ids.add(rid)
            if problem:
                self.failed.add(rid)
                report.note(msg("record {record} (batch {batch} index {index}): {problem}", record=rid,
                                 batch=str(h)[:16],
                                 index=idx, problem=problem))
            elif isinstance(r.get("record"), dict) and r["record"].get("type") == "indicator":
                self.indicators[rid] = _indicator_fields(r)


def _indicator_fields(rec: dict[str, Any]) -> str:
    """The fields of a verified record the indicators feed must repeat, as compact JSON
    (a missing ``q`` stays missing: the feed may show it as ``[]``)."""
    body = rec["record"]
    fields = {k: body[src] for k, src in _INDICATOR_FIELDS if src in body}
    fields.update({k: rec.get(k) for k in _LOCATOR_FIELDS})
    return json.dumps(fields, separators=(",", ":"), sort_keys=True)


def stub_head(stub: dict[str, Any], enterprise: str) -> dict[str, Any]:
    """The batch head (wire.batch_head) a withheld stub spells out, as the gateway signed it."""
    return {"v": wire.HEAD_VERSION, "gateway": stub.get("gateway_id"), "enterprise": enterprise,
            "kid": stub.get("kid"), "seq": stub.get("seq"), "prev": stub.get("prev"), "hash": stub.get("hash"),
            "categories": stub.get("categories"), "records": stub.get("record_count"),
            "dropped": stub.get("dropped")}


def _check_stub_heads(report: _Report, enterprise: str, stubs: dict[str, dict[str, Any]], keys: _Keys) -> set[str]:
    """The gateway's head signature of every stub that carries one; the hashes whose head holds.
    A stub without one is the receiver's word (a gateway from before head signatures)."""
    signed: set[str] = set()
    for h, s in stubs.items():
        if s.get("head_sig") is None:
            continue
        try:
            if not isinstance(s.get("gateway_id"), str) or not isinstance(s.get("kid"), str):
                raise wire.WireError("bad_stub", msg("stub names no gateway or key"))
            wire.verify_head(stub_head(s, enterprise), wire.unb64(s["head_sig"], "head_sig"),  # check V18
                             keys.get(s["gateway_id"], s["kid"]))
            signed.add(str(h))
        except (*_ERRORS, urllib.error.URLError, OSError) as exc:
            report.feed(msg("withheld batch {batch} (gateway {gateway} seq {seq}): the stub is not what the gateway "
                            "signed: {error}", batch=str(h)[:16], gateway=s.get("gateway_id"), seq=s.get("seq"),
                            error=exc))
    return signed


def _check_withheld(report: _Report, stubs: dict[str, dict[str, Any]], batches: Container[str],
                    granted: list[str] | None) -> None:
    """A stub must be a batch the bank may not see: it names a category outside the grant."""
    for h, s in stubs.items():
        cats = s.get("categories") or []
        if h in batches:  # check V19
            report.feed(msg("batch {batch}: both shown and withheld", batch=str(h)[:16]))
        elif granted is not None and ("*" in granted or all(c in granted or c in ALWAYS_VISIBLE for c in cats)):
            report.feed(msg("batch {batch} (gateway {gateway} seq {seq}): withheld although its categories "
                            "{categories} are granted", batch=str(h)[:16], gateway=s.get("gateway_id"),
                            seq=s.get("seq"), categories=cats))


def _check_chains(
    report: _Report, heads: dict[str, dict[str, Any]], stubs: dict[str, dict[str, Any]],
    seen_locs: dict[str, set[int]], signed_heads: set[str] | None = None,
    tips: dict[str, tuple[int, str]] | None = None,
) -> tuple[list[str], list[dict[str, Any]], dict[str, list[Any]]]:
    """Completeness of shown batches, and per-gateway chain continuity across shown and
    withheld batches (a withheld one with a signed head chains by its signed prev).
    ``heads`` holds each verified shown batch's signed gateway, seq, prev, dropped and
    record count; ``tips`` each gateway's last (seq, hash) verified by an earlier run, where
    its chain continues. Returns the gateways, the declared gaps and the new tips."""
    signed_heads = signed_heads or set()
    tips = tips or {}
    new_tips: dict[str, list[Any]] = {}
    chains: dict[str, list[tuple[int, str, dict[str, Any] | None, dict[str, Any] | None]]] = defaultdict(list)
    for h, body in heads.items():
        if len(seen_locs[h]) != body["records"]:  # check V20
            missing = body["records"] - len(seen_locs[h])
            report.feed(msg("batch {batch} (gateway {gateway} seq {seq}): {n} record(s) withheld", batch=h[:16],
                            gateway=body["gateway"], seq=body["seq"], n=missing))
        chains[body["gateway"]].append((body["seq"], h, body, None))
    for h, s in stubs.items():
        if isinstance(s.get("gateway_id"), str) and isinstance(s.get("seq"), int):
            chains[s["gateway_id"]].append((s["seq"], str(h), None, s))
        else:
            report.feed(msg("withheld batch {batch}: stub names no gateway or seq", batch=str(h)[:16]))
    declared: list[dict[str, Any]] = []
    for gw in sorted(chains):
        prev_seq, prev_hash = tips.get(gw, (0, wire.GENESIS_PREV))
        for seq, h, body, stub in sorted(chains[gw], key=lambda t: t[0]):
            dropped = body.get("dropped") if body is not None else (stub or {}).get("dropped")
            signed_prev = body["prev"] if body is not None else (stub or {}).get("prev") if h in signed_heads \
                else None
            where = (msg("gateway {gateway} seq {seq} (batch {batch})", gateway=gw, seq=seq, batch=h[:16]) if body
                     is not None else msg("gateway {gateway} seq {seq} (withheld batch {batch})", gateway=gw, seq=seq,
                                          batch=h[:16]))
            if seq < prev_seq:  # check V21
                report.feed(msg("{where}: seq {seq} again, after an earlier run verified up to seq {prev_seq} "
                                "(equivocation or replay)", where=where, seq=seq, prev_seq=prev_seq))
                continue
            if seq == prev_seq:
                report.feed(msg("{where}: two batches with seq {seq} (equivocation)", where=where, seq=seq))
            elif seq == prev_seq + 1:
                if signed_prev is not None and signed_prev != prev_hash:  # check V22
                    report.feed(msg("{where}: does not chain to seq {prev_seq} (signed prev differs)", where=where,
                                    prev_seq=prev_seq))
            elif same_json(dropped, [prev_seq + 1, seq - 1]):  # check V23
                source = "signed body" if body is not None else "signed head" if h in signed_heads \
                    else "withheld batch (receiver's word)"
                declared.append({"gateway_id": gw, "first": prev_seq + 1, "last": seq - 1, "declared_in": source})
            else:
                report.feed(msg("{where}: seq {first}..{last} missing, not declared dropped", where=where,
                                first=prev_seq + 1,
                                last=seq - 1))
            prev_seq, prev_hash = seq, h
        new_tips[gw] = [prev_seq, prev_hash]
    return sorted(chains), declared, new_tips


def _check_scores(report: _Report, items: list[dict[str, Any]], receiver_pk: bytes, enterprise: str) -> None:
    """Each score report must be exactly what the receiver signed, for this enterprise."""
    for s in items:
        try:
            signed = wire.verify_report(s["signature"], receiver_pk)  # check V24
            if not same_json(signed, s["report"]):
                raise wire.WireError("report_mismatch", msg("report differs from the one the receiver signed"))
            if signed.get("enterprise_id") != enterprise:
                raise wire.WireError("report_mismatch", msg("report is about another enterprise"))
            for k in ("score", "grade", "warning_level"):
                if not same_json(s.get(k), signed.get(k)):
                    raise wire.WireError("report_mismatch", msg("{field} differs from the signed report", field=k))
        except _ERRORS as exc:
            report.feed(msg("score {score}: {error}", score=s.get("id") if isinstance(s, dict) else "?", error=exc))


def _check_indicators(report: _Report, items: list[dict[str, Any]], verified: dict[Any, str], failed: set[Any],
                      listed: set[Any]) -> None:
    """Each indicator served must be a verified record, field for field.

    An indicator whose record already failed is not reported again. Equality is exact
    (``same_json``: ``1``, ``1.0`` and ``true`` all differ).
    """
    for it in items:
        rid = it.get("id")
        listed.add(rid)
        stored = verified.get(rid)
        if stored is None and rid in failed:
            continue
        if stored is None:
            report.feed(msg("indicator {record}: no verified record in the records feed", record=rid))
            continue
        rec = json.loads(stored)
        wrong = [k for k, _ in _INDICATOR_FIELDS if not same_json(it.get(k), rec.get(k)) and not (k == "quality"
                 and it.get(k) == [] and k not in rec)]  # check V25
        wrong += [k for k in _LOCATOR_FIELDS if not same_json(it.get(k), rec.get(k))]
        if wrong:
            report.feed(msg("indicator {record} (batch {batch} index {index}): {fields} differ from the signed record",
                            record=rid, batch=str(rec.get("batch_hash"))[:16], index=rec.get("index"),
                            fields=", ".join(wrong)))


def _take_indicators(report: _Report, items: list[dict[str, Any]], state: _RecordState, listed: set[Any],
                     later: list[dict[str, Any]]) -> int:
    """Check an indicators page against the records verified so far; returns how many items
    were new to this run. Items an earlier run checked are skipped (but not its pending ones,
    which are in ``state.indicators``); items past the last verified record id go to ``later``."""
    upto = max(state.max_id, state.floor)
    now: list[dict[str, Any]] = []
    deferred = len(later)
    for it in items:
        rid = it.get("id")
        if isinstance(rid, int) and rid <= state.floor and rid not in state.indicators:
            continue
        (now if isinstance(rid, int) and rid <= upto else later).append(it)
    _check_indicators(report, now, state.indicators, state.failed, listed)
    return len(now) + len(later) - deferred


def _check_indicators_complete(report: _Report, verified: dict[Any, str], listed: set[Any], upto: int) -> None:
    """Every verified indicator record up to id ``upto`` must appear in the indicators feed."""
    missing = [rid for rid in verified if rid <= upto and rid not in listed]  # check V26
    if missing:
        report.feed(msg("indicators feed leaves out {n} verified indicator record(s), e.g. {examples}", n=len(missing),
                        examples=missing[:5]))


def _check_access_log(http: _Http, report: _Report, receiver_pk: bytes, ent: str, enterprise: str, page_limit: int,
                      tip: list[Any] | None, start: str | None) -> tuple[list[Any] | None, str | None, int]:
    """The enterprise's access log (docs/wire-format.md §14): every entry hash-chained from the first (or from an
    earlier run's verified ``tip`` = [id, hash]) to the ``head`` the last page states. Returns the new tip, the
    cursor to resume from and the number of entries read. Pages are signed and paged like the others (V2, V4, V5)."""
    last_id, last = (int(tip[0]), str(tip[1])) if tip else (0, ACCESS_GENESIS)
    n = 0
    cursor = start
    head: Any = None
    for page in _pages(http, f"/v1/feed/{ent}/access-log", report, receiver_pk, "access-log", enterprise,
                       page_limit, start=start):
        head = page.get("head")
        for it in page.get("items", []):
            n += 1
            where = msg("access-log entry {entry}", entry=it.get("id"))
            try:
                if access_entry_hash(it, str(it.get("prev"))) != it.get("hash"):  # check V33
                    report.feed(msg("{where}: hash does not cover its fields (edited)", where=where))
            except _ERRORS as exc:
                report.feed(msg("{where}: not canonical JSON: {error}", where=where, error=exc))
            if it.get("prev") != last:  # check V34
                report.feed(msg("{where}: prev is not the hash of the entry before it (an entry was deleted or edited)",
                                where=where))
            if it.get("enterprise_id") != enterprise or not isinstance(it.get("id"), int) \
                    or it["id"] <= last_id:  # check V35
                report.feed(msg("{where}: not an entry of {enterprise} after entry {last_id}", where=where,
                                enterprise=enterprise, last_id=last_id))
            last_id, last = (it["id"] if isinstance(it.get("id"), int) else last_id), str(it.get("hash"))
        cursor = page.get("next_cursor") or page.get("resume_cursor") or cursor
    expected = {"id": last_id, "hash": last} if last_id else None
    if not same_json(head, expected) and not (head is None and tip):  # check V36
        report.feed(msg("access log: the head the receiver states ({head}) is not where the entries served end "
                        "({expected}): entries held back or removed at the end", head=head, expected=expected))
    return ([last_id, last] if last_id else None), cursor, n


def _bank_of(http: _Http, report: _Report, receiver_pk: bytes) -> tuple[str | None, list[dict[str, Any]]]:
    """The bank the signed enterprises page names, and its enterprises (checked like V2)."""
    page = http.get("/v1/feed/enterprises", auth=True)
    try:
        _whole_page_signed(page, receiver_pk)
    except _ERRORS as exc:
        report.feed(msg("enterprises page: receiver signature: {error}", error=exc))
        return None, []
    return page.get("bank"), list(page.get("enterprises", []))


def _check_facilities(http: _Http, report: _Report, receiver_pk: bytes, ent: str,
                      enterprise: str, items: list[Any] | None = None) -> dict[str, Any] | None:
    """This bank's facilities of the enterprise and their coverage (§16). Returns facility id -> coverage
    (what V50 compares the portfolio with), None when the page failed; ``items`` gets the page's items
    (what V53-V54 check)."""
    bank, _ = _bank_of(http, report, receiver_pk)
    page = http.get(f"/v1/feed/{ent}/facilities", auth=True)
    if not fvf.signed_page(page, receiver_pk, "facilities", report.feed, enterprise_id=enterprise,
                           bank=bank, cursor=None):  # check V47
        return None
    out: dict[str, Any] = {}
    for it in page.get("items", []):
        fvf.check_facility(it, enterprise, str(bank), report.feed)  # check V48
        if isinstance(it, dict):
            out[str(it.get("facility_id"))] = it.get("coverage")
            if items is not None:
                items.append(it)
    return out


def _check_bank_chains(http: _Http, report: _Report, receiver_pk: bytes, ent: str, enterprise: str,
                       private: fvb.BankChains, cursors: dict[str, str | None], page_limit: int,
                       counts: dict[str, int]) -> dict[str, str | None]:
    """The bank's private findings and alerts chains (§24), from where an earlier run stopped. Returns the
    cursors to keep."""
    out: dict[str, str | None] = {}
    for what, path in (("bank_findings", "bank-findings"), ("bank_alerts", "bank-alerts")):
        private.check_tip_still_served(
            what, lambda q, p=path: _signed_get(http, f"/v1/feed/{ent}/{p}?{q}", receiver_pk), report.feed)
        cursor, n = cursors.get(what), 0
        for page in _pages(http, f"/v1/feed/{ent}/{path}", report, receiver_pk, what, enterprise, page_limit,
                           start=cursor):
            private.check_page(what, page, report.feed)  # check V51
            items = page.get("items", [])
            private.take(what, items, report.feed)  # check V52
            n += len(items)
            cursor = page.get("next_cursor") or page.get("resume_cursor") or cursor
        out[what], counts[what] = cursor, n
    return out


def _check_covenants(report: _Report, items: list[Any], bank: str, private: fvb.BankChains) -> None:
    """Each facility's covenant results: against its terms (V53) and the bank's private chain (V54)."""
    for it in items:
        fvb.check_covenant_terms(it, report.feed)  # check V53
    for it in items:
        fvb.check_against_chain(it, bank, private, report.feed)  # check V54
    private.check_alerts(report.feed)


def _check_portfolio(http: _Http, report: _Report, receiver_pk: bytes,
                     facilities: dict[str, dict[str, Any]]) -> int:
    """The bank's portfolio (§16), read after every enterprise's feed: signed, for this bank, exactly its
    enterprises, worst first, stating the scores and coverage the other pages served. Returns its length."""
    bank, ents = _bank_of(http, report, receiver_pk)
    page = http.get("/v1/portfolio", auth=True)
    if not fvf.signed_page(page, receiver_pk, "portfolio", report.feed, bank=bank):  # check V49
        return 0
    fvf.check_portfolio_entries(page, [e["enterprise_id"] for e in ents if not e.get("terminated")], report.feed)
    scores: dict[str, dict[str, Any] | None] = {}
    for e in page.get("enterprises", []):
        eid = e.get("enterprise_id") if isinstance(e, dict) else None
        if not isinstance(eid, str):
            continue
        try:
            latest = http.get(f"/v1/feed/{urllib.parse.quote(eid, safe='')}/scores/latest", auth=True)
        except OSError as exc:  # _Http turns HTTP errors into OSError("HTTP <code> for <path>: ...")
            if str(exc).startswith("HTTP 404 "):
                scores[eid] = None  # no score yet: the portfolio must say so
            else:
                report.feed(msg("{enterprise}: latest score: {error}", enterprise=eid, error=exc))
            continue
        try:
            _whole_page_signed(latest, receiver_pk)
            scores[eid] = latest["item"]
        except _ERRORS as exc:
            report.feed(msg("{enterprise}: latest score page: receiver signature: {error}", enterprise=eid, error=exc))
    fvf.check_portfolio_numbers(page, facilities, scores, report.feed)  # check V50
    return len(page.get("enterprises", []))


def _check_order_progress(report: _Report, items: list[dict[str, Any]], verified: dict[Any, str]) -> None:
    """The order progress each score report states (docs/wire-format.md §23): its arithmetic, and its open
    quantities against the verified records where this run verified them."""
    records = fvo.due_records(verified)
    for s in items:
        rep = s.get("report")
        if not isinstance(rep, dict):
            continue
        for problem in fvo.arithmetic(rep):  # check V55
            report.feed(msg("score {score}: {problem}", score=s.get("id"), problem=problem))
        for problem in fvo.against_records(rep, records):  # check V56
            report.feed(msg("score {score}: {problem}", score=s.get("id"), problem=problem))
