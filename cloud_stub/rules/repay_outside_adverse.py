"""Adverse official records: an administrative penalty, a court judgment against the enterprise or a
poor tax rating in the last ``lookback_days`` (365) before the assessment.

Read from outside records (cloud_stub/outside/): ``penalty`` -> yellow (orange from
``orange_penalty_amount`` CNY, or ``orange_count`` penalties); ``court`` with role ``defendant``
-> yellow (orange from ``orange_judgment_amount``); ``tax`` rating C or D, or ``abnormal`` ->
orange (D red). Each finding cites the records' SHA-256 digests and sources.
Worked example: docs/cross-verification.md, "Outside records".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import worst
from cloud_stub.rules._repay import RepaymentRule
from cloud_stub.rules.base import Finding, register


def cite(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How a finding cites outside records: source, kind, date and digest."""
    return [{"source": x["source"], "kind": x["kind"], "date": x["date"], "sha256": x["sha256"]} for x in recs]


def recent(ri: RepaymentInputs, kind: str, days: int) -> list[dict[str, Any]]:
    """Records of ``kind`` dated within ``days`` before the assessment date (inclusive), oldest first."""
    end = ri.as_of_date
    start = end - timedelta(days=days)
    return sorted((x for x in ri.outside_of(kind) if start <= date.fromisoformat(x["date"]) <= end),
                  key=lambda x: (x["date"], x["sha256"]))


def day_epoch(d: str) -> int:
    return int((date.fromisoformat(d) - date(1970, 1, 1)).total_seconds())


@register
class OutsideAdverse(RepaymentRule):
    id = "repay_outside_adverse"
    version = 1
    title = "Administrative penalty, court judgment or poor tax rating in the last 12 months"
    needs = ("outside:penalty", "outside:court", "outside:tax")
    defaults: Mapping[str, Any] = {"lookback_days": 365, "orange_penalty_amount": 100000.0, "orange_count": 3,
                                   "orange_judgment_amount": 500000.0}

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        days = int(p["lookback_days"])
        out: list[Finding] = []
        pens = recent(ri, "penalty", days)
        if pens:
            total = sum(float(x["data"].get("amount") or 0) for x in pens)
            sev = "orange" if total >= p["orange_penalty_amount"] or len(pens) >= p["orange_count"] else "yellow"
            out.append(self._f(ri, sev, "penalty", pens, {"penalties": len(pens), "amount_total": round(total, 2)},
                               {k: p[k] for k in ("lookback_days", "orange_penalty_amount", "orange_count")},
                               f"{len(pens)} administrative penalt{'y' if len(pens) == 1 else 'ies'} in the last "
                               f"{days} days, {total:,.0f} CNY in all"))
        cases = [x for x in recent(ri, "court", days) if x["data"].get("role") == "defendant"]
        if cases:
            total = sum(float(x["data"].get("amount") or 0) for x in cases)
            sev = "orange" if total >= p["orange_judgment_amount"] else "yellow"
            out.append(self._f(ri, sev, "court", cases, {"judgments_as_defendant": len(cases),
                                                         "amount_total": round(total, 2)},
                               {k: p[k] for k in ("lookback_days", "orange_judgment_amount")},
                               f"{len(cases)} court judgment(s) against the enterprise in the last {days} days"))
        tax = recent(ri, "tax", days)
        if tax:
            last = tax[-1]
            rating = str(last["data"].get("rating", "")).upper()
            sev = worst("red" if rating == "D" else "orange" if rating == "C" else None,
                        "orange" if last["data"].get("abnormal") else None)
            if sev is not None:
                out.append(self._f(ri, sev, "tax", [last], {"rating": rating,
                                                            "abnormal": bool(last["data"].get("abnormal"))},
                                   {"lookback_days": days, "ratings": "C orange, D red; abnormal orange"},
                                   f"tax credit rating {rating}"
                                   + (" (abnormal status)" if last["data"].get("abnormal") else "")))
        return out

    def _f(self, ri: RepaymentInputs, sev: str, what: str, recs: list[dict[str, Any]], stat: dict[str, Any],
           threshold: dict[str, Any], message: str) -> Finding:
        start, end = day_epoch(recs[0]["date"]), day_epoch(recs[-1]["date"]) + 86400
        return self.finding(ri, sev, f"{what}:{recs[-1]['sha256'][:16]}", start, end,
                            compared={"records": cite(recs)}, statistic=stat, threshold=threshold,
                            direction="adverse", message=message, indicators=(f"outside:{what}",))
