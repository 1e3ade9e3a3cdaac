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
from cloud_stub.texts import Msg, msg

Fail = Callable[[str], None]
WHAT = {"bank_findings": "bank_finding", "bank_alerts": "bank_alert"}
STATUSES = ("met", "breached", "undetermined", "not_observed")
MARGIN_LEVELS = ("yellow", "orange", "red")
# The facility's coverage is served to 2 decimals, the covenant's observed to 4: they differ by up to half a
# cent, and in binary floating point a little more (0.38 - 0.375 = 0.0050000000000000044; Hypothesis found it).
COVERAGE_ROUNDING = 0.005 + 1e-9
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
            fail(msg("{what} page: not this bank's {what} page (kind {kind}, bank {bank})", what=what,
                     kind=repr(page.get("kind")), bank=repr(page.get("bank"))))

    def check_tip_still_served(self, what: str, get: Callable[[str], dict[str, Any]], fail: Fail) -> None:
        """V52 (across runs): the newest item an earlier run verified is still served, unchanged."""
        tip = self.chains[what].tip
        if not tip or not isinstance(tip[0], int):
            return
        items = get(f"after={tip[0] - 1}&limit=1").get("items") or []
        if not items or items[0].get("id") != tip[0] or items[0].get("hash") != tip[1]:
            fail(msg("{what}: the receiver no longer serves bank finding {id} (hash {hash}) that an earlier run "
                     "verified: deleted or edited", what=what, id=tip[0], hash=str(tip[1])[:16])
                 if what == "bank_findings" else
                 msg("{what}: the receiver no longer serves bank alert {id} (hash {hash}) that an earlier run "
                     "verified: deleted or edited", what=what, id=tip[0], hash=str(tip[1])[:16]))

    def take(self, what: str, items: list[Any], fail: Fail) -> None:
        """V52: items chained, each this enterprise's and this bank's."""
        good = [it for it in items if isinstance(it, dict)]
        if len(good) != len(items):
            fail(msg("{what}: an item is not an object", what=what))
        for problem in self.chains[what].check(good):
            fail(msg("{what} chain: {problem}", what=what, problem=problem))
        for it in good:
            detail = it.get("detail") if isinstance(it.get("detail"), dict) else {}
            named = (detail.get("extra") or {}).get("bank") if what == "bank_findings" else detail.get("bank")
            if it.get("enterprise_id") != self.enterprise or it.get("bank") != self.bank or named != self.bank:
                fail(msg("{what} {id}: not this bank's ({bank}, detail {named}) about {enterprise}", what=what,
                         id=it.get("id"), bank=repr(it.get("bank")), named=repr(named), enterprise=self.enterprise))
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
                fail(msg("bank_findings {id}: margin call {level} without its margin_call alert (deleted)",
                         id=it.get("id"), level=it.get("severity")))


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


def _status_ok(r: dict[str, Any], coverage: dict[str, Any] | None) -> Msg | None:
    """Why this result's status does not follow from its numbers, or None."""
    st, obs, lim, name = r.get("status"), r.get("observed"), float(r["limit"]), r.get("covenant")
    if st not in STATUSES:
        return msg("status {status} is not one of {statuses}", status=repr(st), statuses=STATUSES)
    if obs is None:
        return None if st == "not_observed" else msg("status {status} without an observed value", status=st)
    if not _num(obs):
        return msg("observed {observed} is not a number", observed=repr(obs))
    if st == "not_observed":
        return msg("not observed, yet observed {observed}", observed=obs)
    if name == "min_coverage":
        cov = (coverage or {}).get("coverage")
        if not _num(cov) or abs(float(cov) - float(obs)) > COVERAGE_ROUNDING:
            return msg("observed coverage {observed} is not the facility's coverage {coverage}", observed=obs,
                       coverage=cov)
        ok = {"breached" if x < lim else "met" for x in (obs - OBSERVED_ROUNDING, obs + OBSERVED_ROUNDING)}
        return None if st in ok else msg("{status} with coverage {observed} and minimum {limit}", status=st,
                                         observed=obs, limit=lim)
    if name == "min_monthly_output":
        days = r.get("coverage") or {}
        whole = _num(days.get("days_observed")) and _num(days.get("days")) and days["days_observed"] >= days["days"]
        ok = {"met" if x >= lim else "breached" if whole else "not_observed"
              for x in (obs - OUTPUT_ROUNDING, obs + OUTPUT_ROUNDING)}
        return None if st in ok and st != "not_observed" else msg(
            "{status} with output {observed}, minimum {limit} ({days})", status=st, observed=obs, limit=lim, days=days)
    hhi = r.get("hhi")
    if not _num(hhi):
        return msg("concentration without its hhi ({hhi})", hhi=repr(hhi))
    lo = float(hhi) / 100.0
    if abs(lo - float(obs)) > SHARE_ROUNDING:
        return msg("observed {observed} is not hhi/100 ({expected})", observed=obs, expected=f"{lo:.2f}")
    # the bounds of the exact HHI behind the served one (rounded to 0.1), then the shares' rounding
    his = [min(100.0, math.sqrt(max(float(hhi) + d, 0.0))) for d in (-HHI_ROUNDING, HHI_ROUNDING)]
    ok = {"breached" if a > lim else "met" if b <= lim else "undetermined"
          for a in (lo - SHARE_ROUNDING, lo + SHARE_ROUNDING)
          for b in (his[0] - SHARE_ROUNDING, his[1] + SHARE_ROUNDING)}
    return None if st in ok else msg("{status} with a largest share between {low} and {high} % and maximum {limit}",
                                     status=st, low=f"{lo:.2f}", high=f"{his[1]:.2f}", limit=lim)


def check_covenant_terms(item: Any, fail: Fail) -> None:
    """V53: one facility's covenant results against its own terms (the same page) and their numbers."""
    if not isinstance(item, dict):
        return
    where = msg("facility {facility}", facility=item.get("facility_id"))
    res, terms = item.get("covenant_results"), item.get("covenants") or {}
    if res is None:
        return  # not assessed since covenants were set (or coverage withheld)
    try:
        results = res["results"]
        want = _expected(terms)
        got = {(r["covenant"], r.get("side")): r for r in results}
        if len(got) != len(results) or set(got) != set(want):
            fail(msg("{where}: covenant results {got} are not the covenants its terms set {want}", where=where,
                     got=sorted(got, key=str), want=sorted(want, key=str)))
        cov = item.get("coverage")
        if cov is not None and res.get("as_of") != cov.get("as_of"):
            fail(msg("{where}: covenant results as of {results_as_of}, its coverage as of {coverage_as_of}",
                     where=where, results_as_of=res.get("as_of"), coverage_as_of=cov.get("as_of")))
        basis = res["basis"]
        if not (_num(basis["from"]) and _num(basis["to"]) and basis["to"] == res.get("as_of")
                and _num(basis["max_record_id"])):
            fail(msg("{where}: covenant results without the basis they were computed on ({basis})", where=where,
                     basis=basis))
        for k, r in got.items():
            name = k[0] + (f":{k[1]}" if k[1] else "")
            if k in want and float(r["limit"]) != want[k]:
                fail(msg("{where}: covenant {name} limit {limit}, the terms say {terms}", where=where, name=name,
                         limit=r["limit"], terms=want[k]))
            why = _status_ok(r, cov)
            if why is not None:
                fail(msg("{where}: covenant {name}: {why}", where=where, name=name, why=why))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        fail(msg("{where}: malformed covenant results ({kind}: {error})", where=where, kind=type(exc).__name__,
                 error=exc))


def check_against_chain(item: Any, bank: str, chains: BankChains, fail: Fail) -> None:
    """V54: a facility's breaches and margin-call level against the bank's private chain."""
    if not isinstance(item, dict):
        return
    fid = item.get("facility_id")
    where = msg("facility {facility}", facility=fid)
    try:
        for r in (item.get("covenant_results") or {}).get("results", []):
            name = r["covenant"] + (f":{r['side']}" if r.get("side") else "")
            key = r.get("finding")
            if r.get("status") != "breached":
                if key is not None:
                    fail(msg("{where}: covenant {name} is {status} yet names finding {finding}", where=where,
                             name=name, status=r.get("status"), finding=key))
                continue
            got = chains.keys.get(str(key)) if key is not None else None
            if got is None:
                fail(msg("{where}: covenant {name} breached, but its finding {finding} is not in the bank's chain "
                         "(deleted)", where=where, name=name, finding=key))
                continue
            if got["rule"] != "repay_covenants" or got["facility_id"] != fid \
                    or got["covenant"][:2] != [r["covenant"], r.get("side")]:
                fail(msg("{where}: covenant {name}: finding {finding} is about another covenant or facility",
                         where=where, name=name, finding=key))
            elif r["covenant"] == "min_coverage" and got["covenant"][2:] != [r["limit"], r["observed"]]:
                fail(msg("{where}: covenant {name}: finding {finding} states {stated}, the page {page}", where=where,
                         name=name, finding=key, stated=got["covenant"][2:], page=[r["limit"], r["observed"]]))
        cov = item.get("coverage")
        if isinstance(cov, dict) and cov.get("level") in MARGIN_LEVELS:
            tail = f":{bank}/{fid}/{cov['level']}/{cov.get('since')}"
            key = f"collateral_coverage:v<n>{tail}"
            if not any(k.startswith("collateral_coverage:v") and k.endswith(tail) for k in chains.keys):
                fail(msg("{where}: coverage level {level} since {since} has no collateral_coverage finding {finding} "
                         "in the bank's chain (deleted)", where=where, level=cov["level"], since=cov.get("since"),
                         finding=key))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        fail(msg("{where}: malformed covenant results ({kind}: {error})", where=where, kind=type(exc).__name__,
                 error=exc))
