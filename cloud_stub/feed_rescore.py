"""``edgeproof feed rescore``: a bank recomputes a served score report from the records it verified.

The bank pulls the whole feed through the same code as ``feed verify`` (every batch's
gateway signature, every record against its signed body, chains, pages), keeps the
verified bodies and record locators, and then, independently of the receiver's database:

1. takes the score report served (its receiver signature checked): the report itself for a
   bank granted every category, its own category ``view`` for a category-limited bank
   (docs/scoring.md, "Category views");
2. takes the rule versions and the scorecard (version and table sha256) the report names, and
   refuses to go on if this installation does not have exactly those;
3. takes the chain findings the report's ``basis`` states (the receiver saw them at ingest;
   gap declarations among them are checked against the chain the bank verified, and all of
   them against the hash-chained findings feed by ``feed verify``);
4. builds the rule inputs with :func:`cloud_stub.signed_inputs.build_inputs` — the function
   the receiver's analysis uses — from the bank's verified bodies, and the report with
   :func:`cloud_stub.analysis.build_report`;
5. compares byte for byte and names what differs: score, grade, a sub-score, a finding added,
   removed or changed, the inputs digest, the record locators digest, a view.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cloud_stub import feed_verify
from cloud_stub.analysis import AnalysisError, _rules_of, build_report, diff, view_key
from cloud_stub.errors import ReceiverError
from cloud_stub.repayment.context import stored_context_report as stored_repayment_context
from cloud_stub.rule_inputs import ChainFinding
from cloud_stub.scoring import load_config, shipped_path
from cloud_stub.signed_inputs import AcceptedBatch, build_inputs
from cloud_stub.texts import Joined, msg
from gateway import wire


class _Collect:
    """What ``feed verify`` hands over per records page: verified bodies and record locators."""

    def __init__(self) -> None:
        self.batches: dict[str, AcceptedBatch] = {}
        self.locators: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def __call__(self, bodies: dict[str, dict[str, Any]], records: list[dict[str, Any]], failed: set[Any]) -> None:
        for h, body in bodies.items():
            self.batches.setdefault(h, AcceptedBatch(h, body))
        for r in records:
            rid, h, idx = r.get("id"), r.get("batch_hash"), r.get("index")
            if rid not in failed and h in bodies and isinstance(rid, int) and isinstance(idx, int):
                self.locators[h].append((rid, idx))


def _served_score(http: Any, enterprise: str, receiver_pk: bytes, score_id: int | None) -> dict[str, Any]:
    """The score item to recompute (latest, or ``score_id``), with its page and report signatures checked."""
    ent = urllib.parse.quote(enterprise, safe="")
    if score_id is None:
        page = feed_verify._signed_get(http, f"/v1/feed/{ent}/scores/latest", receiver_pk)
        item = page["item"]
    else:
        item = None
        cursor: str | None = None
        while item is None:
            q = {"limit": "1000"} | ({"cursor": cursor} if cursor else {})
            page = feed_verify._signed_get(http, f"/v1/feed/{ent}/scores?{urllib.parse.urlencode(q)}", receiver_pk)
            item = next((s for s in page.get("items", []) if s.get("id") == score_id), None)
            cursor = page.get("next_cursor")
            if item is None and cursor is None:
                raise LookupError(msg("the receiver serves no score {score} for {enterprise}", score=score_id,
                                       enterprise=enterprise))
    if wire.verify_report(item["signature"], receiver_pk) != item["report"]:
        raise wire.WireError("report_mismatch", msg("score {score}: report differs from what the receiver signed",
                                                    score=item.get("id")))
    return item  # type: ignore[no-any-return]


def _named_differences(stored: Mapping[str, Any], fresh: Mapping[str, Any], where: str) -> list[str]:
    """``where``: "" for the report itself, else a ``msg`` naming the view (it prefixes every line)."""
    """What differs, named the way a credit officer reads a report (then any other path)."""
    out: list[str] = []
    for k in ("score", "grade", "warning_level"):
        if stored.get(k) != fresh.get(k):
            out.append(msg("{where}{field}: served {served}, recomputed {recomputed}", where=where, field=k,
                           served=repr(stored.get(k)), recomputed=repr(fresh.get(k))))
    subs_a, subs_b = stored.get("subscores") or {}, fresh.get("subscores") or {}
    for name in sorted(set(subs_a) | set(subs_b)):
        if subs_a.get(name) != subs_b.get(name):
            out.append(msg("{where}sub-score {name}: served {served}, recomputed {recomputed}", where=where, name=name,
                           served=json.dumps(subs_a.get(name))[:120], recomputed=json.dumps(subs_b.get(name))[:120]))
    ra, rb = stored.get("repayment"), fresh.get("repayment")
    if isinstance(ra, dict) or isinstance(rb, dict):
        ra, rb = ra or {}, rb or {}
        for k in ("status", "score", "grade", "level", "coverage"):
            if ra.get(k) != rb.get(k):
                out.append(msg("{where}repayment {field}: served {served}, recomputed {recomputed}", where=where,
                               field=k, served=json.dumps(ra.get(k))[:120], recomputed=json.dumps(rb.get(k))[:120]))
        if not out and wire.canonical_json(ra) != wire.canonical_json(rb):
            out += [msg("{where}repayment differs at {path}", where=where, path=p)
                    for p in diff(ra, rb, "$.repayment", 5)]
    fa = {(f.get("rule"), f.get("dedupe")): f for f in stored.get("findings") or [] if isinstance(f, dict)}
    fb = {(f.get("rule"), f.get("dedupe")): f for f in fresh.get("findings") or [] if isinstance(f, dict)}
    for key in sorted(set(fa) | set(fb), key=str):
        if key not in fb:
            out.append(msg("{where}finding {rule} {dedupe}: served but not recomputed (added by the receiver)",
                           where=where,
                           rule=key[0], dedupe=key[1]))
        elif key not in fa:
            out.append(msg("{where}finding {rule} {dedupe}: recomputed but not served (removed by the receiver)",
                           where=where, rule=key[0], dedupe=key[1]))
        elif wire.canonical_json(fa[key]) != wire.canonical_json(fb[key]):
            out.append(msg("{where}finding {rule} {dedupe}: changed ({paths})", where=where, rule=key[0], dedupe=key[1],
                           paths=", ".join(diff(fa[key], fb[key], "", 5))))
    if stored.get("inputs_sha256") != fresh.get("inputs_sha256"):
        out.append(msg("{where}inputs digest: served {served}, recomputed {recomputed}", where=where,
                       served=stored.get("inputs_sha256"), recomputed=fresh.get("inputs_sha256")))
    sb, fb_ = stored.get("basis") or {}, fresh.get("basis") or {}
    if sb.get("locators_sha256") != fb_.get("locators_sha256"):
        out.append(msg("{where}record locators digest: served {served}, recomputed {recomputed} (the score was "
                       "computed from other records than the bank verified)", where=where,
                       served=sb.get("locators_sha256"), recomputed=fb_.get("locators_sha256")))
    if not out and wire.canonical_json(stored) != wire.canonical_json(fresh):
        out += [msg("{where}differs at {path}", where=where, path=p) for p in diff(stored, fresh)]
    return out


def _chain_findings(basis: Mapping[str, Any], declared: list[dict[str, Any]],
                    problems: list[str]) -> list[ChainFinding]:
    """The chain findings the report states, gap declarations checked against the verified chain."""
    verified = {(g.get("gateway_id"), g.get("first"), g.get("last")) for g in declared}
    out = []
    for row in basis.get("chain_findings") or []:
        fid, kind, gw, detail, created = row
        if kind == "gap_declared" and isinstance(detail, dict) \
                and (gw, detail.get("first"), detail.get("last")) not in verified:
            problems.append(msg("chain finding {finding}: gap {first}..{last} of {gateway} is not declared in the "
                                "chain the bank verified", finding=fid, first=detail.get("first"),
                                last=detail.get("last"), gateway=gw))
        out.append(ChainFinding(int(fid), kind, gw, detail, created))
    return out


def recompute_report(report: Mapping[str, Any], batches: list[AcceptedBatch],
                     locators: Mapping[str, list[tuple[int, int]]], declared: list[dict[str, Any]],
                     config_path: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """The report recomputed from verified bodies (plus its views); problems found on the way."""
    problems: list[str] = []
    basis = report.get("basis")
    if not isinstance(basis, dict):
        raise AnalysisError("not_recomputable", msg("the report states no basis (made before reports could be "
                                                    "recomputed by a bank: loader 1)"))
    rules = _rules_of(report, int(report.get("as_of") or 0))
    version = str(report.get("scoring_version"))
    cfg = load_config(config_path or shipped_path(version), rules)
    if cfg.version != version or cfg.sha256 != report.get("config_sha256"):
        raise AnalysisError("config_changed", msg("the report used {version} with table sha256 {config_sha256}; "
                                                  "this installation has {version2} with {sha256}", version=version,
                                                  config_sha256=report.get('config_sha256'), version2=cfg.version,
                                                  sha256=cfg.sha256))
    chain = _chain_findings(basis, declared, problems)
    period, inputs = report["period"], report["inputs"]
    # The repayment assessment (when the report has one) from exactly the outside records it states.
    try:
        repay = (stored_repayment_context(report["repayment"], problems)
                 if isinstance(report.get("repayment"), dict) else None)
    except ReceiverError as exc:
        raise AnalysisError(exc.code, exc.message) from exc

    def build(categories: Any) -> dict[str, Any]:
        ev = build_inputs(str(report["enterprise_id"]), int(period["start"]), int(period["end"]),
                          int(inputs["max_record_id"]), int(inputs["max_finding_id"]), batches, locators, chain,
                          loader=int(basis.get("loader", 2)), categories=categories)
        return json.loads(wire.canonical_json(build_report(ev, cfg, rules, int(report["as_of"]), repay)))

    fresh = build(basis.get("categories"))
    if isinstance(report.get("views"), dict):
        fresh["views"] = {k: build(k.split(",")) for k in sorted(report["views"])}
    return fresh, problems


def _after_bound(report: Mapping[str, Any], collect: _Collect) -> int:
    """Verified records of the report's period that lie beyond its ``max_record_id`` although their batch
    was created (gateway clock, signed) before ``as_of``. Not a failure — a batch held in an outbox
    arrives late — but a receiver choosing an old bound to leave out recent records shows here."""
    try:
        as_of, end, start = int(report["as_of"]), int(report["period"]["end"]), int(report["period"]["start"])
        bound = int(report["inputs"]["max_record_id"])
    except (KeyError, TypeError, ValueError):
        return 0
    n = 0
    for h, b in collect.batches.items():
        created = b.body.get("created")
        try:
            t = datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        if t >= as_of:
            continue
        recs = b.body.get("records") if isinstance(b.body.get("records"), list) else []
        for rid, idx in collect.locators.get(h, ()):
            w = recs[idx].get("window") if 0 <= idx < len(recs) and isinstance(recs[idx], dict) else None
            if rid > bound and isinstance(w, dict) and isinstance(w.get("start"), int) and start <= w["start"] < end:
                n += 1
    return n


def rescore(url: str, enterprise: str, token: str, pin: str | None = None, *, score_id: int | None = None,
            page_limit: int = feed_verify.PAGE_LIMIT, timeout: float = 30.0,
            config_path: str | None = None) -> dict[str, Any]:
    """Verify the feed, recompute the served score report, compare. ``ok`` is True only if identical.

    ``{"enterprise_id", "score_id", "categories", "recomputed": "report" | "view", "ok", "problems",
    "verify": {records, verified, failed}, "score": {"served", "recomputed"}, "inputs_sha256": {...},
    "after_bound"}`` (``after_bound``: see :func:`_after_bound`).
    """
    collect = _Collect()
    summary = feed_verify.verify_feed(url, enterprise, token, pin, page_limit=page_limit, timeout=timeout,
                                      on_records=collect)
    out: dict[str, Any] = {"enterprise_id": enterprise, "score_id": score_id, "categories": summary.get("categories"),
                           "recomputed": None, "ok": False, "problems": [],
                           "verify": {k: summary.get(k) for k in ("records", "verified", "failed")}}
    problems: list[str] = out["problems"]
    if summary.get("failed"):
        problems.append(msg("feed verify failed ({n}): {failures}", n=summary["failed"],
                            failures=Joined(summary["failures"][:5])))
    try:
        receiver_pk = wire.unb64(summary["receiver_key"], "receiver key")
        item = _served_score(feed_verify._Http(url, token, timeout), enterprise, receiver_pk, score_id)
    except (KeyError, LookupError, OSError, ValueError, wire.WireError) as exc:
        problems.append(msg("the score report: {error}", error=exc))
        return out
    out["score_id"] = item.get("id")
    cats = summary.get("categories")
    limited = isinstance(cats, list) and "*" not in cats
    report = item["report"].get("view") if limited else item["report"]
    out["recomputed"] = "view" if limited else "report"
    if not isinstance(report, dict):
        problems.append(msg("score {score} has no view for this bank's categories {categories}: the receiver serves "
                            "nothing this bank can recompute", score=item.get("id"), categories=cats))
        return out
    if not limited and isinstance(report.get("basis"), dict) and report["basis"].get("categories") is not None:
        problems.append(msg("score {score}: served as the full report but computed for categories {categories}",
                            score=item.get("id"), categories=report["basis"]["categories"]))
    if limited and sorted((report.get("basis") or {}).get("categories") or []) != sorted(cats):
        problems.append(msg("score {score}: the view served is for categories {served}, not this bank's {categories}",
                            score=item.get("id"), served=(report.get("basis") or {}).get("categories"),
                            categories=cats))
    try:
        fresh, found = recompute_report(report, list(collect.batches.values()), collect.locators,
                                        summary.get("declared_gaps") or [], config_path)
    except (AnalysisError, ValueError, KeyError, TypeError) as exc:
        problems.append(msg("score {score}: cannot recompute: {error}", score=item.get("id"),
                            error=getattr(exc, "message", exc)))
        return out
    problems += found
    where = msg("view ") if limited else ""
    problems += _named_differences(report, fresh, where)
    for k in sorted(set(report.get("views") or {}) | set(fresh.get("views") or {})):
        a, b = (report.get("views") or {}).get(k) or {}, (fresh.get("views") or {}).get(k) or {}
        problems += _named_differences(a, b, msg("view {key}: ", key=k))
    if not problems and wire.canonical_json(report) != wire.canonical_json(fresh):
        problems += [msg("differs at {path}", path=p) for p in diff(report, fresh)] or [msg("report bytes differ")]
    out["after_bound"] = _after_bound(report, collect)
    out.update(ok=not problems, score={"served": report.get("score"), "recomputed": fresh.get("score")},
               inputs_sha256={"served": report.get("inputs_sha256"), "recomputed": fresh.get("inputs_sha256")},
               view=view_key(cats) if limited else None)
    return out
