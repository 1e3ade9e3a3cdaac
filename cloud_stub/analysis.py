"""Analysis: evidence -> rules -> findings -> scorecard -> a signed, stored, reproducible report.

One analysis of one enterprise fixes its inputs first (the highest record id and chain
finding id, and the period), so it reads one consistent slice of ever-growing tables
and a later recomputation can read the very same slice. It then runs every registered
rule, stores their findings (once: ``dedupe``), scores them with a versioned scorecard
table, stores the report signed by the receiver's own key, and raises alerts a bank
should act on now. ``recompute`` does the same from a stored score's bounds, without
storing anything, and ``verify_score`` says whether it came out identical.

The report is a pure function of (evidence, rule code and versions, scorecard table):
no wall-clock time enters it, which is what makes "recompute and compare" meaningful.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nacl.signing import SigningKey

from cloud_stub import consent, feed_chain
from cloud_stub.db import iso, utc_now
from cloud_stub.errors import ReceiverError
from cloud_stub.periodic import PeriodicTask
from cloud_stub.repayment.assessment import RepaymentContext, RepaymentError
from cloud_stub.repayment.assessment import assess as assess_repayment
from cloud_stub.repayment.context import current_context as current_repayment_context
from cloud_stub.repayment.context import stored_context_db as stored_repayment_context_db
from cloud_stub.rule_inputs import CHAIN_KINDS, RuleInputs
from cloud_stub.rules import all_rules
from cloud_stub.rules.base import Finding, Rule, registered_version
from cloud_stub.scoring import ScoringConfig, Sufficiency, load_config, score_card, shipped_path
from cloud_stub.signed_inputs import load_with_views
from cloud_stub.texts import msg
from gateway import wire

log = logging.getLogger("cloud_stub.analysis")

DAY = 86400
LEVELS = ("green", "yellow", "orange", "red")
# Indicator name prefixes that count as independent sources for data sufficiency.
SOURCE_FAMILIES = ("energy", "machine", "vision", "mes", "erp", "collateral", "env")


class AnalysisError(ReceiverError):
    """An analysis that could not run or a score that could not be recomputed; nothing was stored."""


@dataclass
class Analysis:
    """What one analysis produced: the stored score's id, its report and the alerts raised."""

    enterprise_id: str
    score_id: int | None
    report: dict[str, Any]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    # Where the time went (load, digest, rules_and_score, sign_and_store), for operations and the bench.
    stages: dict[str, float] = field(default_factory=dict)


# --- inputs ---------------------------------------------------------------------------------


def _bounds(conn: Any, enterprise_id: str) -> tuple[int, int]:
    """The enterprise's highest record id and chain-finding id visible now.

    Per enterprise, not table-wide: ingest keeps an enterprise's record ids in commit order
    (on PostgreSQL through its enterprise row lock), so no record of this enterprise can
    appear later below the bound, which a table-wide maximum cannot promise when another
    enterprise's transaction commits first. It also means analysing unchanged data twice
    gives the same report while other enterprises keep sending. Chain findings only: the
    rule findings analyses add must not move the bound.
    """
    rid = conn.execute("SELECT coalesce(max(id), 0) FROM records WHERE enterprise_id = ?",
                       (enterprise_id,)).fetchone()[0]
    kinds = ",".join("?" * len(CHAIN_KINDS))
    fid = conn.execute(f"SELECT coalesce(max(id), 0) FROM findings WHERE enterprise_id = ? AND kind IN ({kinds})",
                       (enterprise_id, *CHAIN_KINDS)).fetchone()[0]
    return int(rid), int(fid)


def sufficiency(ev: RuleInputs) -> Sufficiency:
    """How much the evidence covers: days with any numeric indicator, records, source families, recency."""
    days: set[int] = set()
    families: set[str] = set()
    last_end: int | None = None
    for name, by in ev.series_by_name.items():
        family = name.split(".", 1)[0]
        for s in by.values():
            has = s.start[~np.isnan(s.value)]
            if len(has):
                days.update((has // DAY).tolist())
                end = int(has[-1]) + s.length
                last_end = end if last_end is None else max(last_end, end)
                if family in SOURCE_FAMILIES:
                    families.add(family)
    since = None if last_end is None else round((ev.period_end - last_end) / DAY, 4)
    return Sufficiency(len(days), ev.record_count, tuple(sorted(families)), since)


def run_rules(ev: RuleInputs, cfg: ScoringConfig, rules: Mapping[str, type[Rule]]) -> list[Finding]:
    """Every rule over the evidence, parameters from the table; a failing rule fails the analysis.

    A rule that crashes must not quietly leave out its findings: that would turn a bug
    into a better score.
    """
    out: list[Finding] = []
    for rule_id in sorted(rules):
        cls = rules[rule_id]
        try:
            found = cls().evaluate(ev, cfg.params_for(rule_id, cls.defaults))
        except Exception as exc:
            raise AnalysisError("rule_failed", msg("rule {rule_id} v{version} failed on {enterprise_id}: {name}: "
                                                   "{exc}", rule_id=rule_id, version=cls.version,
                                                   enterprise_id=ev.enterprise_id, name=type(exc).__name__,
                                                   exc=exc), 500) from exc
        for f in found:
            if f.rule != rule_id or f.version != cls.version:
                raise AnalysisError("rule_failed", msg("rule {rule_id} v{version} returned a finding labelled "
                                                       "{rule} v{version2}", rule_id=rule_id, version=cls.version,
                                                       rule=f.rule, version2=f.version), 500)
        out.extend(found)
    return sorted(out, key=lambda f: f.dedupe)


def build_report(ev: RuleInputs, cfg: ScoringConfig, rules: Mapping[str, type[Rule]], as_of: int,
                 repay: RepaymentContext | None = None) -> dict[str, Any]:
    """The score report for the evidence (fields described in docs/scoring.md, "The report").

    With ``repay`` the report also carries the repayment-capacity assessment under ``repayment``
    (docs/scoring.md, "Repayment capacity"), next to the authenticity score and never mixed in;
    reports made before it existed have no such key and rescore without it.
    """
    findings = run_rules(ev, cfg, rules)
    equivocations = sum(1 for c in ev.chain_findings if c.kind == "equivocation")
    card = score_card(cfg, findings, sufficiency(ev), equivocations)
    return {
        "enterprise_id": ev.enterprise_id,
        "as_of": as_of,
        "period": {"start": ev.period_start, "end": ev.period_end},
        "scoring_version": cfg.version,
        "config_sha256": cfg.sha256,
        "inputs_sha256": ev.digest(),
        "inputs": {"max_record_id": ev.max_record_id, "max_finding_id": ev.max_finding_id,
                   "records": ev.record_count, "chain_findings": len(ev.chain_findings)},
        "rules": {rid: rules[rid].version for rid in sorted(rules)},
        **card,
        "findings": [{**f.to_json(), "dedupe": f.dedupe} for f in findings],
        "chain": {"equivocations": equivocations,
                  "kinds": _count(c.kind for c in ev.chain_findings)},
        **({"basis": basis(ev)} if ev.loader >= 2 else {}),
        **({"repayment": assess_repayment(ev, repay, as_of)} if repay is not None else {}),
    }


def basis(ev: RuleInputs) -> dict[str, Any]:
    """What a report was computed from, stated so a bank can recompute it (docs/scoring.md, "Basis").

    The loader version, the category view (None: all records), the digest of the
    ``[record id, batch hash, index]`` locators of the records the rules read, and the chain
    findings used, whole: a bank cannot rebuild every one of them (an equivocation's rejected
    bytes never entered the chain), so it takes them from here and checks them against the
    (hash-chained) findings feed and the chain it verified.
    """
    from cloud_stub.signed_inputs import chain_finding_rows

    return {"loader": ev.loader, "categories": ev.categories, "locators_sha256": ev.locators_sha256,
            "chain_findings": chain_finding_rows(ev)}


def view_key(categories: Iterable[str]) -> str:
    """How a category view is named in a report's ``views``: the sorted categories, comma-separated."""
    return ",".join(sorted(categories))


def _limited_views(conn: Any, enterprise_id: str) -> list[list[str]]:
    """The distinct category sets the enterprise's live bank grants are served after consent (consent.py)."""
    return sorted({view_key(v) for v in consent.limited_views(conn, enterprise_id)} - {""})


def with_views(report: dict[str, Any], views: Mapping[str, RuleInputs], cfg: ScoringConfig,
               rules: Mapping[str, type[Rule]], repay: RepaymentContext | None = None) -> dict[str, Any]:
    """The report plus, per category-limited view, the report computed on only what that view shows.

    A bank granted some categories is served its view (docs/scoring.md, "Category views"): a
    score it can recompute from the records it verified. Views add no findings to the store.
    """
    if not views:
        return report
    return {**report, "views": {k: build_report(views[k], cfg, rules, report["as_of"], repay) for k in sorted(views)}}


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return dict(sorted(out.items()))


# --- storing --------------------------------------------------------------------------------


def _store(conn: Any, report: dict[str, Any], signature: str, findings: list[dict[str, Any]],
           equivocations: list[tuple[int, str | None, dict[str, Any]]],
           row_locks: bool = False) -> tuple[int, list[dict[str, Any]]]:
    """Findings, the score and the alerts in one transaction; returns (score id, alerts raised)."""
    ent, now = report["enterprise_id"], iso(utc_now())
    if row_locks:  # the enterprise lock ingest takes too: findings and alerts are hash-chained per enterprise
        conn.execute("SELECT id FROM enterprises WHERE id = ? FOR NO KEY UPDATE", (ent,))
    for f in findings:
        text = wire.canonical_json(f).decode()
        item = {"kind": f["rule"], "severity": f["severity"], "enterprise_id": ent, "gateway_id": None,
                "created": now, "rule_version": f["version"], "subscore": f["subscore"],
                "window_start": f["window"]["start"], "window_end": f["window"]["end"]}
        if conn.execute("SELECT 1 FROM findings WHERE dedupe = ?", (f"{ent}/{f['dedupe']}",)).fetchone():
            continue  # raised by an earlier analysis: stored once
        prev, h = feed_chain.link(conn, "finding", item, json.loads(text))
        conn.execute(
            "INSERT INTO findings (kind, severity, enterprise_id, gateway_id, detail, created, dedupe, rule_version,"
            " subscore, window_start, window_end, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (f["rule"], f["severity"], ent, None, text, now,
             f"{ent}/{f['dedupe']}", f["version"], f["subscore"], f["window"]["start"], f["window"]["end"], prev, h),
        )
    prev = conn.execute("SELECT warning_level FROM scores WHERE enterprise_id = ? ORDER BY id DESC LIMIT 1",
                        (ent,)).fetchone()
    score_id = conn.execute(
        "INSERT INTO scores (enterprise_id, as_of, period_start, period_end, scoring_version, config_sha256,"
        " inputs_sha256, max_record_id, max_finding_id, score, grade, warning_level, report, signature, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (ent, report["as_of"], report["period"]["start"], report["period"]["end"], report["scoring_version"],
         report["config_sha256"], report["inputs_sha256"], report["inputs"]["max_record_id"],
         report["inputs"]["max_finding_id"], report["score"], report["grade"], report["warning_level"],
         wire.canonical_json(report).decode(), signature, now),
    ).fetchone()[0]
    alerts: list[dict[str, Any]] = []

    def alert(kind: str, level: str, detail: dict[str, Any], dedupe: str) -> None:
        if conn.execute("SELECT 1 FROM alerts WHERE dedupe = ?", (f"{ent}/{dedupe}",)).fetchone():
            return
        text = wire.canonical_json(detail).decode()
        prev, h = feed_chain.link(conn, "alert", {"enterprise_id": ent, "kind": kind, "level": level,
                                                  "created": now}, json.loads(text))
        cur = conn.execute(
            "INSERT INTO alerts (enterprise_id, kind, level, detail, created, dedupe, prev, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (ent, kind, level, text, now, f"{ent}/{dedupe}", prev, h),
        ).fetchone()
        if cur is not None:
            alerts.append({"id": cur[0], "kind": kind, "level": level, "detail": detail})

    for f in findings:
        if f["severity"] == "red":
            alert("red_finding", "red", {"score_id": score_id, "finding": f["dedupe"], "rule": f["rule"],
                                         "subscore": f["subscore"], "message": f["message"],
                                         "window": f["window"]}, f"finding/{f['dedupe']}")
    for fid, gw, detail in equivocations:
        alert("equivocation", "red", {"score_id": score_id, "finding_id": fid, "gateway_id": gw, **detail},
              f"equivocation/{fid}")
    # A first score compares with yellow: every newly onboarded enterprise starts yellow
    # (too little data), which is not news; a first score of orange or red is.
    before = prev[0] if prev is not None else None
    level = report["warning_level"]
    if LEVELS.index(level) > LEVELS.index(before or "yellow"):
        alert("warning_level", level, {"score_id": score_id, "previous": before, "current": level,
                                       "score": report["score"], "grade": report["grade"],
                                       "reasons": [r["code"] for r in report["reasons"]]}, f"score/{score_id}")
    return int(score_id), alerts


def receiver_signing_key(rdb: Any, signing_key: SigningKey | None) -> SigningKey:
    """The key that signs reports: the one given, else the receiver's key file next to a SQLite db."""
    if signing_key is not None:
        return signing_key
    from cloud_stub import receiver_key

    if "://" in str(rdb.path):
        raise AnalysisError("no_key", msg("a PostgreSQL receiver has no key file next to its database: pass the "
                                          "key"))
    return receiver_key.load_or_create(receiver_key.default_key_path(rdb.path))


def _default_as_of() -> int:
    """Now, on the hour: scores of one run line up, and the period ends at a window boundary."""
    return int(time.time()) // 3600 * 3600


def analyse(rdb: Any, enterprise_id: str, as_of: int | None = None, days: int = 90,
            config_path: str | Path | None = None, signing_key: SigningKey | None = None) -> dict[str, Any]:
    """Analyse one enterprise over ``[as_of - days, as_of)``; store and return the signed report."""
    return run_analysis(rdb, enterprise_id, as_of, days, config_path, signing_key).report


def run_analysis(rdb: Any, enterprise_id: str, as_of: int | None = None, days: int = 90,
                 config_path: str | Path | None = None, signing_key: SigningKey | None = None,
                 *, _ctx: tuple[ScoringConfig, Mapping[str, type[Rule]], SigningKey] | None = None) -> Analysis:
    """:func:`analyse`, returning the score id and the alerts raised as well."""
    t0 = time.perf_counter()
    if _ctx is None:
        rules = all_rules()
        cfg = load_config(config_path, rules)
        key = receiver_signing_key(rdb, signing_key)
    else:
        cfg, rules, key = _ctx
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise AnalysisError("bad_request", msg("days must be a whole number >= 1, got {days}", days=repr(days)))
    as_of = _default_as_of() if as_of is None else as_of
    if isinstance(as_of, bool) or not isinstance(as_of, int):
        raise AnalysisError("bad_request", msg("as_of must be epoch seconds, got {as_of}", as_of=repr(as_of)))
    marks = [time.perf_counter()]
    with rdb.read() as conn:
        if conn.execute("SELECT 1 FROM enterprises WHERE id = ?", (enterprise_id,)).fetchone() is None:
            raise AnalysisError("unknown_enterprise", msg("no enterprise {enterprise_id}",
                                                          enterprise_id=repr(enterprise_id)), 404)
        max_rid, max_fid = _bounds(conn, enterprise_id)
        try:
            ev, views = load_with_views(conn, enterprise_id, as_of - days * DAY, as_of, max_rid, max_fid,
                                        CHAIN_KINDS, _limited_views(conn, enterprise_id))
            repay = current_repayment_context(conn, enterprise_id)
        except ValueError as exc:  # a stored body that no longer hashes to its batch hash
            raise AnalysisError("inputs_unreadable", msg("{enterprise_id}: {exc}", enterprise_id=enterprise_id,
                                                         exc=exc), 500) from exc
    marks.append(time.perf_counter())
    ev.digest()  # cached: build_report reuses it
    marks.append(time.perf_counter())
    try:
        report = with_views(build_report(ev, cfg, rules, as_of, repay), views, cfg, rules, repay)
    except RepaymentError as exc:
        raise AnalysisError(exc.code, exc.message, 500) from exc
    marks.append(time.perf_counter())
    try:
        signed = wire.sign_report(report, key)
    except wire.WireError as exc:  # a rule put NaN/inf in a finding
        raise AnalysisError("bad_finding", msg("report for {enterprise_id} is not canonical JSON: {message}",
                                               enterprise_id=enterprise_id, message=exc.message),
                            500) from exc
    equiv = [(c.id, c.gateway_id, c.detail) for c in ev.chain_findings if c.kind == "equivocation"]
    with rdb.write() as conn:
        score_id, alerts = _store(conn, report, json.dumps(signed, sort_keys=True),
                                  report["findings"] + (report.get("repayment") or {}).get("findings", []), equiv,
                                  getattr(rdb, "dialect", "sqlite") == "postgresql")
    marks.append(time.perf_counter())
    stages = {name: b - a for name, a, b in zip(("load", "digest", "rules_and_score", "sign_and_store"),
                                                marks[:-1], marks[1:], strict=True)}
    seconds = time.perf_counter() - t0
    log.info("scored %s", enterprise_id, extra={"event": "score", "enterprise": enterprise_id, "score_id": score_id,
                                                "score": report["score"], "grade": report["grade"],
                                                "level": report["warning_level"], "seconds": round(seconds, 3)})
    return Analysis(enterprise_id, score_id, report, alerts, seconds, stages)


def analyse_all(rdb: Any, as_of: int | None = None, days: int = 90, config_path: str | Path | None = None,
                signing_key: SigningKey | None = None, enterprises: Iterable[str] | None = None) -> list[Analysis]:
    """Analyse every enterprise (or the ones named) with one table, one key and one ``as_of``.

    An enterprise whose analysis fails is reported (``score_id`` None, ``report`` holding the
    error) and the others still run: one bad history must not stop a portfolio's scores.
    """
    rules = all_rules()
    ctx = (load_config(config_path, rules), rules, receiver_signing_key(rdb, signing_key))
    as_of = _default_as_of() if as_of is None else as_of
    if enterprises is None:
        with rdb.read() as conn:
            # An offboarded enterprise (cloud_stub/offboard.py) is held, not scored: nobody is served it.
            enterprises = [r[0] for r in conn.execute(
                "SELECT id FROM enterprises WHERE id NOT IN (SELECT enterprise_id FROM offboarding) ORDER BY id"
            ).fetchall()]
    out = []
    for ent in enterprises:
        try:
            out.append(run_analysis(rdb, ent, as_of, days, _ctx=ctx))
        except (AnalysisError, ValueError) as exc:
            log.error("analysis of %s failed: %s", ent, exc, extra={"event": "score_failed", "enterprise": ent})
            out.append(Analysis(ent, None, {"error": str(exc)}))
    return out


class PeriodicAnalysis(PeriodicTask):
    """``analyse_all`` every ``interval`` seconds in a background thread (``cloud serve --analyse-every``),
    on its own connection: analysing a portfolio reads a lot (cloud_stub/periodic.py)."""

    name = "analysis_round"

    def __init__(self, open_rdb: Any, interval: float, signing_key: SigningKey, days: int = 90,
                 config_path: str | Path | None = None) -> None:
        super().__init__(open_rdb, interval, log)
        self.key, self.days, self.config_path = signing_key, days, config_path

    def round(self, rdb: Any) -> None:
        done = analyse_all(rdb, None, self.days, self.config_path, self.key)
        failed = sum(1 for a in done if a.score_id is None)
        log.info("analysis round", extra={"event": "analysis_round", "enterprises": len(done), "failed": failed})


# --- reproducibility ------------------------------------------------------------------------


def _stored(rdb: Any, score_id: int) -> tuple[Any, ...]:
    with rdb.read() as conn:
        row = conn.execute(
            "SELECT enterprise_id, as_of, period_start, period_end, scoring_version, config_sha256,"
            " max_record_id, max_finding_id, report, signature FROM scores WHERE id = ?", (score_id,)).fetchone()
    if row is None:
        raise AnalysisError("unknown_score", msg("no score with id {score_id}", score_id=score_id), 404)
    return tuple(row)


def recompute(rdb: Any, score_id: int, config_path: str | Path | None = None) -> dict[str, Any]:
    """The report a stored score gives when recomputed from its stored bounds; nothing is stored.

    The table is the shipped file of the stored scoring version (or ``config_path`` for a
    score made with a custom table); if its content hash differs from the stored one the
    score cannot be reproduced and this says so rather than scoring with another table.
    The rules are the ones the stored report names, at the versions it names: a rule added
    since does not make an old score irreproducible, a rule changed (new version) or removed
    does, and is named.
    """
    ent, as_of, start, end, version, cfg_sha, max_rid, max_fid, report_text, _ = _stored(rdb, score_id)
    stored = json.loads(report_text)
    rules = _rules_of(stored, score_id)
    # A report without ``basis`` was made by loader 1 (see cloud_stub/signed_inputs.py).
    loader = stored.get("basis", {}).get("loader", 1) if isinstance(stored.get("basis", {}), dict) else 1
    try:
        path = Path(config_path) if config_path is not None else shipped_path(version)
    except ValueError as exc:
        raise AnalysisError("unknown_scoring_version", str(exc)) from exc
    if not path.exists():
        raise AnalysisError("unknown_scoring_version",
                            msg("score {score_id} used {version}, which this receiver does not ship ({path})",
                                score_id=score_id, version=repr(version), path=path))
    cfg = load_config(path, all_rules())
    if cfg.version != version or cfg.sha256 != cfg_sha:
        raise AnalysisError("config_changed",
                            msg("score {score_id} used {version} with table sha256 {cfg_sha}; {path} is "
                                "{version2} with sha256 {sha256}", score_id=score_id, version=version, cfg_sha=cfg_sha,
                                path=path, version2=cfg.version, sha256=cfg.sha256))
    view_keys = sorted(stored["views"]) if isinstance(stored.get("views"), dict) else []
    try:
        with rdb.read() as conn:
            ev, views = load_with_views(conn, ent, int(start), int(end), int(max_rid), int(max_fid), CHAIN_KINDS,
                                        view_keys, loader=loader)
            # A report made before the repayment assessment existed has no such key and gets none.
            repay = (stored_repayment_context_db(conn, ent, stored["repayment"])
                     if isinstance(stored.get("repayment"), dict) else None)
        fresh = with_views(build_report(ev, cfg, rules, int(as_of), repay), views, cfg, rules, repay)
    except ValueError as exc:  # a stored body that no longer hashes to its batch hash
        raise AnalysisError("inputs_unreadable", msg("score {score_id}: {exc}", score_id=score_id, exc=exc)) from exc
    except ReceiverError as exc:  # the repayment table or a repayment rule is not the one stored
        raise AnalysisError(exc.code, msg("score {score_id}: {message}", score_id=score_id,
                                          message=exc.message)) from exc
    # Through canonical JSON, so it compares with the stored report type for type (tuples are lists).
    return json.loads(wire.canonical_json(fresh))


def _rules_of(report: Mapping[str, Any], score_id: int) -> dict[str, type[Rule]]:
    """The registered rules a stored report was computed with; AnalysisError if one changed or went."""
    have = all_rules()
    used = report.get("rules")
    if not isinstance(used, dict):
        raise AnalysisError("bad_report", msg("score {score_id}'s report does not list its rules", score_id=score_id))
    out: dict[str, type[Rule]] = {}
    for rid, ver in sorted(used.items()):
        if rid not in have:
            raise AnalysisError("rules_changed", msg("score {score_id} used rule {rid} v{ver}, which is no longer "
                                                     "registered", score_id=score_id, rid=rid, ver=ver))
        kept = have[rid] if have[rid].version == ver else registered_version(rid, ver)
        if kept is None:
            raise AnalysisError("rules_changed", msg("score {score_id} used rule {rid} v{ver}; this receiver has "
                                                     "v{version}", score_id=score_id, rid=rid, ver=ver,
                                                     version=have[rid].version))
        out[rid] = kept
    return out


def verify_score(rdb: Any, score_id: int, config_path: str | Path | None = None,
                 public_key: bytes | None = None) -> dict[str, Any]:
    """Recompute a stored score and compare: inputs hash, whole report, and the stored signature.

    ``reproducible`` is true only if the recomputed report equals the stored one exactly
    and the stored signature covers exactly the stored report (checked against
    ``public_key`` when given).
    """
    stored_report, signature = (json.loads(x) for x in _stored(rdb, score_id)[8:10])
    problems: list[str] = []
    try:
        signed_body = json.loads(wire.unb64(signature["body"], "signature body"))
        if public_key is not None:
            signed_body = wire.verify_report(signature, public_key)
    except (wire.WireError, KeyError, ValueError) as exc:
        problems.append(f"signature: {exc}")
        signed_body = None
    if signed_body is not None and signed_body != stored_report:
        problems.append("signature: the signed report is not the stored report")
    try:
        fresh = recompute(rdb, score_id, config_path)
    except AnalysisError as exc:
        return {"score_id": score_id, "reproducible": False, "problems": [*problems, exc.message],
                "inputs_sha256": {"stored": stored_report.get("inputs_sha256"), "recomputed": None}}
    if wire.canonical_json(stored_report) != wire.canonical_json(fresh):
        problems += [f"differs at {p}" for p in diff(stored_report, fresh)] or ["report bytes differ"]
    return {"score_id": score_id, "reproducible": not problems, "problems": problems,
            "inputs_sha256": {"stored": stored_report["inputs_sha256"], "recomputed": fresh["inputs_sha256"]},
            "score": {"stored": stored_report["score"], "recomputed": fresh["score"]}}


def diff(a: Any, b: Any, path: str = "$", limit: int = 20) -> list[str]:
    """Paths where two JSON values differ (the first ``limit``), for a readable rescore failure."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k} ({'missing from stored' if k not in a else 'missing from recomputed'})")
            else:
                out += diff(a[k], b[k], f"{path}.{k}", limit - len(out))
            if len(out) >= limit:
                break
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path} (length {len(a)} != {len(b)})")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            out += diff(x, y, f"{path}[{i}]", limit - len(out))
            if len(out) >= limit:
                break
    elif a != b or type(a) is not type(b):
        out.append(f"{path} ({json.dumps(a)[:60]} != {json.dumps(b)[:60]})")
    return out[:limit]
