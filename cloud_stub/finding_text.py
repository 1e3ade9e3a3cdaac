"""Findings, reason codes and alerts as sentences, in a bank's language.

What is stored and signed stays structured (rule, severity, the numbers compared, the
threshold); this module only reads it and writes text for people, at the edge (the
``.../text`` feed routes, http_text.py). English keeps each rule's own message verbatim;
other languages say the same from the structured fields: the rule's title, the direction
of the disagreement, the window and every number, labelled. A rule, severity, direction or
alert kind without an entry here is shown by its code, never dropped (tests/cloud/
test_finding_text.py checks every registered rule has a title).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cloud_stub.i18n import N_, gettext_for, resolve

Gettext = Callable[[str], str]

RULE_TITLES = {
    "chain_integrity": N_("Gaps, rejections and equivocation in the signed chains"),
    "changepoints": N_("Stoppages and level shifts; claims through stoppages"),
    "clock_quality": N_("Gateway clock not synchronised or implausible"),
    "collateral_changes": N_("Unexplained changes of pledged goods"),
    "collateral_weight": N_("Pledged weight vs pledged quantity"),
    "collateral_coverage": N_("Collateral value vs the outstanding (margin call)"),
    "cycles_vs_mes": N_("Machine cycles x cavities vs MES output"),
    "declarations": N_("Declarations that coincide with anomalies"),
    "drift_cusum": N_("Gradual inflation of claims (CUSUM)"),
    "energy_per_unit": N_("Energy per unit vs the enterprise's own baseline"),
    "geofence": N_("Geofence exits of pledged goods"),
    "machine_time_vs_mes": N_("Machine run time vs MES run minutes"),
    "mes_vs_camera": N_("MES output vs line camera counts"),
    "meter_identity": N_("Meters swapped or claimed twice (signed identity registers)"),
    "offline_production": N_("Gateway offline while production is claimed"),
    "shipments_vs_outcounts": N_("ERP shipments vs dispatch counts and load-cell decreases"),
    "storage_conditions": N_("Storage-condition excursions"),
    # the repayment-capacity rules (rules/repay_*.py; their findings are rendered like the others)
    "repay_ageing_shift": N_("Slow payers: overdue receivables shifting to older buckets"),
    "repay_concentration": N_("Customer or supplier concentration above thresholds"),
    "repay_covenants": N_("Facility covenant breaches (minimum coverage, maximum concentration, minimum monthly "
                          "output)"),
    "repay_dso_trend": N_("Days sales outstanding trending up"),
    "repay_forecast_miss": N_("Actuals keep falling outside the forecast interval"),
    "repay_order_due": N_("Orders falling behind their due dates"),
    "repay_order_flow": N_("Order lifecycle not flowing (stalls or jumps between stages)"),
    "repay_outside_adverse": N_("Administrative penalty, court judgment or poor tax rating in the last 12 months"),
    "repay_outside_news": N_("Cluster of negative news"),
    "repay_outside_registry": N_("Change of legal representative or registered capital"),
    "repay_receivables_growth": N_("Receivables growing faster than revenue"),
    "repay_revenue_break": N_("Revenue trend break"),
}
SEVERITIES = {
    "info": N_("information"), "yellow": N_("yellow"), "orange": N_("orange"), "red": N_("red"),
    "green": N_("green"), "alert": N_("alert"), "data_integrity": N_("data integrity"), "warning": N_("warning"),
}
SUBSCORES = {
    "production_authenticity": N_("production authenticity"), "operating_stability": N_("operating stability"),
    "collateral_safety": N_("collateral safety"), "data_integrity": N_("data integrity"),
    "repayment_capacity": N_("repayment capacity"),
}
DIRECTIONS = {
    "claims_exceed_evidence": N_("the enterprise's records claim more than the machines show"),
    "evidence_exceeds_claims": N_("the machines show more than the enterprise's records claim"),
    "above": N_("above the baseline"), "below": N_("below the baseline"),
    "missing": N_("data missing"), "conflicting": N_("conflicting signed data"),
    "unsynced": N_("clock not synchronised"), "declared": N_("during a declared event (expected)"),
    "declared_after_the_fact": N_("declared after the anomaly was visible"),
    "outside": N_("outside the allowed range"), "transient": N_("transient load, not counted"),
    "adverse": N_("adverse outside information"), "changed": N_("registered details changed"),
}
CHAIN_FINDINGS = {
    "equivocation": N_("The gateway signed two different batches with the same sequence number."),
    "gap_declared": N_("The gateway's own chain shows batches that never arrived (a declared gap)."),
    "gap_observed": N_("Batches are missing between two received batches (an observed gap)."),
    "stale_seq": N_("A batch arrived with a sequence number already passed."),
    "rejected_batch": N_("A batch was rejected on arrival."),
    "meter_identity_changed": N_("The meter behind a device changed (its signed serial, model or firmware differs)."),
    "meter_serial_duplicate": N_("One meter serial is claimed by more than one device."),
}
ALERTS = {
    "red_finding": N_("Red finding: {title}"),
    "equivocation": N_("Equivocation: gateway {gateway} signed two different batches for one sequence number"),
    "warning_level": N_("Warning level raised from {previous} to {current}"),
}
WITHHELD = N_("Details withheld: this finding concerns data categories your bank has not been granted.")
INSUFFICIENT = N_("Insufficient data to grade")


def _t(gettext: Gettext, table: Mapping[str, str], code: Any) -> str:
    return gettext(table[code]) if isinstance(code, str) and code in table else str(code)


def _day(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def _numbers(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every number the finding compared, its statistic and threshold, flattened with dotted keys."""
    out: list[dict[str, Any]] = []

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, Mapping):
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), x)
        elif isinstance(v, int | float | str | bool) or v is None or (isinstance(v, list) and len(v) <= 10):
            out.append({"key": prefix, "value": v})

    for part in ("compared", "statistic", "threshold", "baseline"):
        if isinstance(detail.get(part), Mapping):
            walk(part, detail[part])
    return out


def render_finding(item: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """One findings-feed item (feed.findings_page) as text in ``locale``."""
    loc = resolve(locale)
    _ = gettext_for(loc)
    detail = item.get("detail") if isinstance(item.get("detail"), Mapping) else {}
    rule = detail.get("rule") if isinstance(detail.get("rule"), str) else None
    out: dict[str, Any] = {"id": item.get("id"), "kind": item.get("kind"), "severity": item.get("severity"),
                           "severity_text": _t(_, SEVERITIES, item.get("severity")),
                           "window": [item.get("window_start"), item.get("window_end")]}
    if item.get("withheld"):
        out.update(title=_t(_, RULE_TITLES, item.get("kind")), text=_(WITHHELD), numbers=[])
        return out
    if rule is not None:
        title = _t(_, RULE_TITLES, rule)
        if loc == "en" and isinstance(detail.get("message"), str):
            text = detail["message"]
        else:
            window = detail.get("window") if isinstance(detail.get("window"), Mapping) else {}
            text = _("{title} ({severity}, {subscore}): {direction}; window {start} to {end} UTC.").format(
                title=title, severity=out["severity_text"], subscore=_t(_, SUBSCORES, detail.get("subscore")),
                direction=_t(_, DIRECTIONS, detail.get("direction")), start=_day(window.get("start")),
                end=_day(window.get("end")))
        out.update(rule=rule, title=title, text=text, numbers=_numbers(detail))
        return out
    kind = item.get("kind")
    out.update(title=_t(_, CHAIN_FINDINGS, kind) if kind in CHAIN_FINDINGS else str(kind),
               text=_t(_, CHAIN_FINDINGS, kind),
               numbers=[{"key": k, "value": v} for k, v in detail.items() if isinstance(v, int | float | str)])
    return out


def render_reasons(report: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """A score report's grade, warning level and reason codes as text in ``locale``."""
    _ = gettext_for(locale)
    reasons = []
    for r in report.get("reasons") or []:
        if not isinstance(r, Mapping):
            continue
        text = r.get("text") if isinstance(r.get("text"), str) else ""
        if r.get("code") == "DS01" and text.startswith("Insufficient data to grade"):
            shown = _(INSUFFICIENT) + text[len("Insufficient data to grade"):]
        else:
            shown = _(text) if text else str(r.get("code"))
        reasons.append({"code": r.get("code"), "text": shown, "points_lost": r.get("points_lost"),
                        "subscores": [_t(_, SUBSCORES, s) for s in r.get("subscores") or []]})
    out = {"score": report.get("score"), "grade": report.get("grade"),
           "warning_level": report.get("warning_level"),
           "warning_level_text": _t(_, SEVERITIES, report.get("warning_level")), "reasons": reasons}
    rep = report.get("repayment")
    if isinstance(rep, Mapping):  # the repayment assessment beside it: its reason codes (repayment-v*.toml) in words
        out["repayment"] = {
            "score": rep.get("score"), "grade": rep.get("grade"), "level": rep.get("level"),
            "level_text": _t(_, SEVERITIES, rep.get("level")),
            "reasons": [{"code": x.get("code"), "points_lost": x.get("points_lost"), "rule": x.get("rule"),
                         "title": _t(_, RULE_TITLES, x.get("rule")) if x.get("rule") else None,
                         "text": _(x["text"]) if isinstance(x.get("text"), str) and x["text"] else str(x.get("code"))}
                        for x in rep.get("reasons") or [] if isinstance(x, Mapping)]}
    return out


def render_alert(item: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """One alerts-feed item as text in ``locale``."""
    _ = gettext_for(locale)
    detail = item.get("detail") if isinstance(item.get("detail"), Mapping) else {}
    kind = item.get("kind")
    if item.get("withheld"):
        text = _(WITHHELD)
    elif kind == "red_finding":
        text = _(ALERTS["red_finding"]).format(title=_t(_, RULE_TITLES, detail.get("rule")))
    elif kind == "equivocation":
        text = _(ALERTS["equivocation"]).format(gateway=detail.get("gateway_id"))
    elif kind == "warning_level":
        text = _(ALERTS["warning_level"]).format(previous=_t(_, SEVERITIES, detail.get("previous") or "-"),
                                                  current=_t(_, SEVERITIES, detail.get("current")))
    else:
        text = str(detail.get("message") or kind)
    return {"id": item.get("id"), "kind": kind, "level": item.get("level"),
            "level_text": _t(_, SEVERITIES, item.get("level")), "created": item.get("created"), "text": text}
