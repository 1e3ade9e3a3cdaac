"""Changes in the business registry: a new legal representative or a changed registered capital.

Registry records (kind ``registry``) are snapshots; consecutive snapshots (by date) are compared.
A change of legal representative within ``lookback_days`` is yellow; a cut of registered capital
by ``orange_capital_cut_pct`` or more is orange (any other capital change yellow). Both
snapshots are cited by digest. Worked example: docs/cross-verification.md, "Outside records".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r
from cloud_stub.rules._repay import RepaymentRule
from cloud_stub.rules.base import Finding, register
from cloud_stub.rules.repay_outside_adverse import cite, day_epoch


@register
class OutsideRegistry(RepaymentRule):
    id = "repay_outside_registry"
    version = 1
    title = "Change of legal representative or registered capital"
    needs = ("outside:registry",)
    defaults: Mapping[str, Any] = {"lookback_days": 365, "orange_capital_cut_pct": 20.0}

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        snaps = sorted((x for x in ri.outside_of("registry") if date.fromisoformat(x["date"]) <= ri.as_of_date),
                       key=lambda x: (x["date"], x["sha256"]))
        since = ri.as_of_date - timedelta(days=int(params["lookback_days"]))
        out: list[Finding] = []
        for a, b in zip(snaps, snaps[1:], strict=False):
            if date.fromisoformat(b["date"]) < since:
                continue
            da, db = a["data"], b["data"]
            start, end = day_epoch(a["date"]), day_epoch(b["date"]) + 86400
            if da.get("legal_representative") != db.get("legal_representative"):
                out.append(self.finding(
                    ri, "yellow", f"legal_rep:{b['sha256'][:16]}", start, end,
                    compared={"records": cite([a, b]), "before": da.get("legal_representative"),
                              "after": db.get("legal_representative")},
                    statistic={"changed": "legal_representative"}, threshold={"lookback_days": params["lookback_days"]},
                    direction="changed", indicators=("outside:registry",),
                    message=f"legal representative changed on {b['date']}"))
            ca, cb = float(da.get("registered_capital", 0)), float(db.get("registered_capital", 0))
            if ca != cb:
                pct = 100.0 * (cb - ca) / ca if ca > 0 else None
                sev = "orange" if pct is not None and -pct >= params["orange_capital_cut_pct"] else "yellow"
                out.append(self.finding(
                    ri, sev, f"capital:{b['sha256'][:16]}", start, end,
                    compared={"records": cite([a, b]), "before": ca, "after": cb},
                    statistic={"change_pct": None if pct is None else r(pct, 2)},
                    threshold={k: params[k] for k in ("lookback_days", "orange_capital_cut_pct")},
                    direction="below" if cb < ca else "above", indicators=("outside:registry",),
                    message=f"registered capital changed from {ca:,.0f} to {cb:,.0f} on {b['date']}"))
        return out
