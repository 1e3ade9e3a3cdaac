"""Feed-verify checks V51-V54 (docs/wire-format.md §9 and §24): a bank's private chains and its covenant results.

* V51: the ``bank_findings`` / ``bank_alerts`` pages are this bank's pages of this enterprise (signature,
  enterprise and cursor are checked by the paging of feed_verify.py, like every feed);
* V52: their items are hash chains per (enterprise, bank) (feed_chain.ChainCheck, chains ``bank_finding`` /
  ``bank_alert``) across pages and, with a state file, across runs (the last verified item is still served
  unchanged); every item names this enterprise and this bank, and its detail this bank;
* V53: each facility's covenant results follow from the facility's own terms on the same page: one result
  per covenant set, with its limit, and a status (met / breached / undetermined / not_observed) that
  follows from its numbers; nothing observed is never a number;
* V54: and they agree with the bank's private chain: a breach names its ``repay_covenants`` finding,
  which the chain serves (this run or an earlier verified one); a margin-call level has its
  ``collateral_coverage`` finding, and each such finding its ``margin_call`` alert.

The ``# check Vn`` tags are at the calls in feed_verify.py. Imports only the standard library,
``gateway.wire`` and ``feed_chain`` (the hash rule), so a bank vendors it with feed_verify.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from cloud_stub.feed_chain import ChainCheck

Fail = Callable[[str], None]
WHAT = {"bank_findings": "bank_finding", "bank_alerts": "bank_alert"}
STATUSES = ("met", "breached", "undetermined", "not_observed")
MARGIN_LEVELS = ("yellow", "orange", "red")
COVERAGE_ROUNDING = 0.005  # the facility's coverage is served to 2 decimals, the covenant's observed to 4
SHARE_ROUNDING = 0.01  # a concentration's bounds: 2 decimals of a share from an HHI rounded to 0.1
HHI_ROUNDING = 0.05  # the HHI is served to 1 decimal
OBSERVED_ROUNDING = 0.00005  # min_coverage's observed is served to 4 decimals; the status used the exact ratio
OUTPUT_ROUNDING = 0.005  # a month's output is served to 2 decimals
MAX_KEYS = 100_000  # finding keys a state file keeps (a bank's findings of one enterprise)


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


class BankChains:
    """The bank's private chains of one enterprise, run after run, and what they hold by finding key."""

    def __init__(self, prior: dict[str, Any], enterprise: str, bank: str) -> None:
        self.enterprise, self.bank = enterprise, bank
        self.chains = {w: ChainCheck(c, prior.get(f"{c}_tip")) for w, c in WHAT.items()}
        # finding key (detail.dedupe) -> {rule, severity, facility_id, compared}: this run's and earlier runs'
        self.keys: dict[str, dict[str, Any]] = dict(prior.get("bank_keys") or {})
        self.new_findings: list[dict[str, Any]] = []
        # findings named by a margin_call alert, this run's and earlier runs' (a finding and its alert are
        # written together, but a run may read the alert's page before the finding's page shows it)
        self.alerted: set[str] = set(prior.get("bank_alerted") or [])

    def tips(self) -> dict[str, Any]:
        keys = dict(list(self.keys.items())[-MAX_KEYS:])
        return {"bank_finding_tip": self.chains["bank_findings"].tip,
                "bank_alert_tip": self.chains["bank_alerts"].tip, "bank_keys": keys,
                "bank_alerted": sorted(self.alerted)[-MAX_KEYS:]}

    def check_page(self, what: str, page: dict[str, Any], fail: Fail) -> None:
        """V51: a ``what`` page for this bank (signature, enterprise and cursor: V2, V4)."""
        if page.get("kind") != what or page.get("bank") != self.bank:
            fail(f"{what} page: not this bank's {what} page (kind {page.get('kind')!r}, bank {page.get('bank')!r})")

    def check_tip_still_served(self, what: str, get: Callable[[str], dict[str, Any]], fail: Fail) -> None:
        """V52 (across runs): the newest item an earlier run verified is still served, unchanged."""
        tip = self.chains[what].tip
        if not tip or not isinstance(tip[0], int):
            return
        items = get(f"after={tip[0] - 1}&limit=1").get("items") or []
        if not items or items[0].get("id") != tip[0] or items[0].get("hash") != tip[1]:
            fail(f"{what}: the receiver no longer serves {WHAT[what].replace('_', ' ')} {tip[0]} (hash "
                 f"{str(tip[1])[:16]}) that an earlier run verified: deleted or edited")

    def take(self, what: str, items: list[Any], fail: Fail) -> None:
        """V52: items chained, each this enterprise's and this bank's."""
        good = [it for it in items if isinstance(it, dict)]
        if len(good) != len(items):
            fail(f"{what}: an item is not an object")
        for problem in self.chains[what].check(good):
            fail(f"{what} chain: {problem}")
        for it in good:
            detail = it.get("detail") if isinstance(it.get("detail"), dict) else {}
            named = (detail.get("extra") or {}).get("bank") if what == "bank_findings" else detail.get("bank")
            if it.get("enterprise_id") != self.enterprise or it.get("bank") != self.bank or named != self.bank:
                fail(f"{what} {it.get('id')}: not this bank's ({it.get('bank')!r}, detail {named!r}) about "
                     f"{self.enterprise}")
                continue
            if what == "bank_findings":
                key = str(detail.get("dedupe"))
                cov = (detail.get("extra") or {}).get("covenant") or {}
                self.keys[key] = {"rule": it.get("kind"), "severity": it.get("severity"),
                                  "facility_id": (detail.get("extra") or {}).get("facility_id"),
                                  "covenant": [cov.get("covenant"), cov.get("side"), cov.get("limit"),
                                               cov.get("observed")]}
                self.new_findings.append(it)
            elif it.get("kind") == "margin_call":
                self.alerted.add(str(detail.get("finding")))

    def know(self, items: list[dict[str, Any]]) -> None:
        """Findings about this bank's facilities that older receivers kept in the enterprise's chain (served to
        this bank whole): they count as the chain's (docs/receiver.md, "A bank's private findings")."""
        for it in items:
            d = it.get("detail")
            if isinstance(d, dict) and (d.get("extra") or {}).get("bank") == self.bank and d.get("dedupe"):
                cov = (d.get("extra") or {}).get("covenant") or {}
                self.keys.setdefault(str(d["dedupe"]), {
                    "rule": it.get("kind"), "severity": it.get("severity"),
                    "facility_id": d["extra"].get("facility_id"),
                    "covenant": [cov.get("covenant"), cov.get("side"), cov.get("limit"), cov.get("observed")]})

    def check_alerts(self, fail: Fail) -> None:
        """V54: each margin-call finding of this run has its margin_call alert in the private alerts chain."""
        for it in self.new_findings:
            d = it.get("detail") or {}
            if it.get("kind") == "collateral_coverage" and it.get("severity") in MARGIN_LEVELS \
                    and d.get("dedupe") not in self.alerted:
                fail(f"bank_findings {it.get('id')}: margin call {it.get('severity')} without its margin_call alert "
                     "(deleted)")


def _expected(terms: dict[str, Any]) -> dict[tuple[str, str | None], float]:
    out: dict[tuple[str, str | None], float] = {}
    if terms.get("min_coverage") is not None:
        out[("min_coverage", None)] = float(terms["min_coverage"])
    if terms.get("min_monthly_output") is not None:
        out[("min_monthly_output", None)] = float(terms["min_monthly_output"])
    if terms.get("max_concentration_pct") is not None:
        for side in ("customer", "supplier"):
            out[("max_concentration_pct", side)] = float(terms["max_concentration_pct"])
    return out


def _status_ok(r: dict[str, Any], coverage: dict[str, Any] | None) -> str | None:
    """Why this result's status does not follow from its numbers, or None."""
    st, obs, lim, name = r.get("status"), r.get("observed"), float(r["limit"]), r.get("covenant")
    if st not in STATUSES:
        return f"status {st!r} is not one of {STATUSES}"
    if obs is None:
        return None if st == "not_observed" else f"status {st} without an observed value"
    if not _num(obs):
        return f"observed {obs!r} is not a number"
    if st == "not_observed":
        return f"not observed, yet observed {obs}"
    if name == "min_coverage":
        cov = (coverage or {}).get("coverage")
        if not _num(cov) or abs(float(cov) - float(obs)) > COVERAGE_ROUNDING:
            return f"observed coverage {obs} is not the facility's coverage {cov}"
        ok = {"breached" if x < lim else "met" for x in (obs - OBSERVED_ROUNDING, obs + OBSERVED_ROUNDING)}
        return None if st in ok else f"{st} with coverage {obs} and minimum {lim}"
    if name == "min_monthly_output":
        days = r.get("coverage") or {}
        whole = _num(days.get("days_observed")) and _num(days.get("days")) and days["days_observed"] >= days["days"]
        ok = {"met" if x >= lim else "breached" if whole else "not_observed"
              for x in (obs - OUTPUT_ROUNDING, obs + OUTPUT_ROUNDING)}
        return None if st in ok and st != "not_observed" else f"{st} with output {obs}, minimum {lim} ({days})"
    hhi = r.get("hhi")
    if not _num(hhi):
        return f"concentration without its hhi ({hhi!r})"
    lo = float(hhi) / 100.0
    if abs(lo - float(obs)) > SHARE_ROUNDING:
        return f"observed {obs} is not hhi/100 ({lo:.2f})"
    # the bounds of the exact HHI behind the served one (rounded to 0.1), then the shares' rounding
    his = [min(100.0, math.sqrt(max(float(hhi) + d, 0.0))) for d in (-HHI_ROUNDING, HHI_ROUNDING)]
    ok = {"breached" if a > lim else "met" if b <= lim else "undetermined"
          for a in (lo - SHARE_ROUNDING, lo + SHARE_ROUNDING)
          for b in (his[0] - SHARE_ROUNDING, his[1] + SHARE_ROUNDING)}
    return None if st in ok else f"{st} with a largest share between {lo:.2f} and {his[1]:.2f} % and maximum {lim}"


def check_covenant_terms(item: Any, fail: Fail) -> None:
    """V53: one facility's covenant results against its own terms (the same page) and their numbers."""
    if not isinstance(item, dict):
        return
    where = f"facility {item.get('facility_id')}"
    res, terms = item.get("covenant_results"), item.get("covenants") or {}
    if res is None:
        return  # not assessed since covenants were set (or coverage withheld)
    try:
        results = res["results"]
        want = _expected(terms)
        got = {(r["covenant"], r.get("side")): r for r in results}
        if len(got) != len(results) or set(got) != set(want):
            fail(f"{where}: covenant results {sorted(got, key=str)} are not the covenants its terms set "
                 f"{sorted(want, key=str)}")
        cov = item.get("coverage")
        if cov is not None and res.get("as_of") != cov.get("as_of"):
            fail(f"{where}: covenant results as of {res.get('as_of')}, its coverage as of {cov.get('as_of')}")
        basis = res["basis"]
        if not (_num(basis["from"]) and _num(basis["to"]) and basis["to"] == res.get("as_of")
                and _num(basis["max_record_id"])):
            fail(f"{where}: covenant results without the basis they were computed on ({basis})")
        for k, r in got.items():
            name = k[0] + (f":{k[1]}" if k[1] else "")
            if k in want and float(r["limit"]) != want[k]:
                fail(f"{where}: covenant {name} limit {r['limit']}, the terms say {want[k]}")
            why = _status_ok(r, cov)
            if why is not None:
                fail(f"{where}: covenant {name}: {why}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        fail(f"{where}: malformed covenant results ({type(exc).__name__}: {exc})")


def check_against_chain(item: Any, bank: str, chains: BankChains, fail: Fail) -> None:
    """V54: a facility's breaches and margin-call level against the bank's private chain."""
    if not isinstance(item, dict):
        return
    fid = item.get("facility_id")
    where = f"facility {fid}"
    try:
        for r in (item.get("covenant_results") or {}).get("results", []):
            name = r["covenant"] + (f":{r['side']}" if r.get("side") else "")
            key = r.get("finding")
            if r.get("status") != "breached":
                if key is not None:
                    fail(f"{where}: covenant {name} is {r.get('status')} yet names finding {key}")
                continue
            got = chains.keys.get(str(key)) if key is not None else None
            if got is None:
                fail(f"{where}: covenant {name} breached, but its finding {key} is not in the bank's chain (deleted)")
                continue
            if got["rule"] != "repay_covenants" or got["facility_id"] != fid \
                    or got["covenant"][:2] != [r["covenant"], r.get("side")]:
                fail(f"{where}: covenant {name}: finding {key} is about another covenant or facility")
            elif r["covenant"] == "min_coverage" and got["covenant"][2:] != [r["limit"], r["observed"]]:
                fail(f"{where}: covenant {name}: finding {key} states {got['covenant'][2:]}, the page "
                     f"{[r['limit'], r['observed']]}")
        cov = item.get("coverage")
        if isinstance(cov, dict) and cov.get("level") in MARGIN_LEVELS:
            tail = f":{bank}/{fid}/{cov['level']}/{cov.get('since')}"
            key = f"collateral_coverage:v<n>{tail}"
            if not any(k.startswith("collateral_coverage:v") and k.endswith(tail) for k in chains.keys):
                fail(f"{where}: coverage level {cov['level']} since {cov.get('since')} has no collateral_coverage "
                     f"finding {key} in the bank's chain (deleted)")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        fail(f"{where}: malformed covenant results ({type(exc).__name__}: {exc})")
