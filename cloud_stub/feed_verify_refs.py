"""The receiver's own word, checked: findings and alerts chains, and what score reports point at.

Part of the bank's verifier (``feed_verify.py``); like it, imports only the standard library,
``gateway.wire`` and ``feed_chain`` (the hash rule), so a bank vendors these files together.

* Findings and alerts pages are hash-chained (``feed_chain.ChainCheck``), across pages and,
  with a state file, across runs: the last verified finding/alert must still be served
  unchanged (re-read with ``after=<its id - 1>``), so deleting the newest ones shows.
* Every score report names what it was built from: each chain finding its ``basis``
  lists must be served in the findings feed exactly as stated; each finding in the report
  must be a served finding; each red finding must have its ``red_finding`` alert. Deleting
  all findings and alerts therefore fails as soon as one score refers to one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloud_stub.feed_chain import CHAIN_NOUNS, FEED_NAMES, ChainCheck
from cloud_stub.texts import msg

Fail = Callable[[str], None]


class ReceiverWord:
    """Collects the findings, alerts and scores of one run and checks how they refer to each other."""

    def __init__(self, prior: dict[str, Any]) -> None:
        self.chains = {"findings": ChainCheck("finding", prior.get("finding_tip")),
                       "alerts": ChainCheck("alert", prior.get("alert_tip"))}
        self.incremental = bool(prior)
        self.findings: dict[Any, dict[str, Any]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []

    def tips(self) -> dict[str, Any]:
        """What the state file keeps: the last verified finding and alert ``[id, hash]``."""
        return {"finding_tip": self.chains["findings"].tip, "alert_tip": self.chains["alerts"].tip}

    def check_tip_still_served(self, what: str, get: Callable[[str], dict[str, Any]], fail: Fail) -> None:
        """The newest finding (alert) an earlier run verified must still be served, unchanged."""
        tip = self.chains[what].tip
        if not tip or not isinstance(tip[0], int):
            return
        page = get(f"after={tip[0] - 1}&limit=1")
        items = page.get("items") or []
        if not items or items[0].get("id") != tip[0] or items[0].get("hash") != tip[1]:
            fail(msg("{what}: the receiver no longer serves {item} {id} (hash {hash}) that an earlier run verified: "
                     "deleted or edited", what=FEED_NAMES.get(what, what), item=CHAIN_NOUNS.get(what[:-1], what[:-1]),
                     id=tip[0], hash=str(tip[1])[:16]))

    def take(self, what: str, items: list[dict[str, Any]], fail: Fail) -> None:
        if what in self.chains:
            for problem in self.chains[what].check(items):
                fail(msg("{what} chain: {problem}", what=FEED_NAMES.get(what, what), problem=problem))
        if what == "findings":
            self.findings.update({it.get("id"): it for it in items})
        elif what == "alerts":
            self.alerts += items
        elif what == "scores":
            self.scores += items

    def check_refs(self, fail: Fail) -> None:
        """Each score's stated chain findings, findings and red-finding alerts must be served."""
        by_dedupe = {(it.get("kind"), (it.get("detail") or {}).get("dedupe")): it for it in self.findings.values()
                     if isinstance(it.get("detail"), dict)}
        withheld = {(it.get("kind"), it.get("rule_version"), it.get("window_start"), it.get("window_end"))
                    for it in self.findings.values() if it.get("withheld")}
        alerted = {(a.get("detail") or {}).get("finding") for a in self.alerts if a.get("kind") == "red_finding"}
        hidden_red_alerts = sum(1 for a in self.alerts if a.get("kind") == "red_finding" and a.get("withheld"))
        floor = (self.chains["findings"].tip or [0])[0] if self.incremental else 0
        for s in self.scores:
            report = s.get("report") if isinstance(s, dict) else None
            if not isinstance(report, dict):
                continue
            sid = s.get("id")
            for part in (report, report.get("view")):
                basis = part.get("basis") if isinstance(part, dict) else None
                for row in (basis or {}).get("chain_findings") or []:
                    fid, kind, gw, detail, created = (list(row) + [None] * 5)[:5]
                    served = self.findings.get(fid)
                    if served is None:
                        if not (self.incremental and isinstance(fid, int) and isinstance(floor, int) and fid <= floor):
                            fail(msg("score {score}: states chain finding {finding} ({kind}), which the findings "
                                     "feed does not serve (deleted)", score=sid, finding=fid, kind=kind))
                    elif [served.get("kind"), served.get("gateway_id"), served.get("detail"), served.get("created")] \
                            != [kind, gw, detail, created]:
                        fail(msg("score {score}: chain finding {finding} ({kind}) is served differently from what "
                                 "the score states", score=sid, finding=fid, kind=kind))
            if self.incremental:
                continue  # a report's findings may have been served (and checked) by an earlier run
            for f in report.get("findings") or []:
                if not isinstance(f, dict):
                    continue
                key = (f.get("rule"), f.get("dedupe"))
                if f.get("withheld"):
                    win = f.get("window") or {}
                    if (f.get("rule"), f.get("version"), win.get("start"), win.get("end")) not in withheld \
                            and not any(k[0] == f.get("rule") for k in by_dedupe):
                        fail(msg("score {score}: finding {rule} {window} is not in the findings feed (deleted)",
                                 score=sid,
                                 rule=f.get("rule"), window=win))
                    continue
                if key not in by_dedupe:
                    fail(msg("score {score}: finding {rule} {dedupe} is not in the findings feed (deleted)",
                             score=sid, rule=f.get("rule"), dedupe=f.get("dedupe")))
                elif f.get("severity") == "red" and f.get("dedupe") not in alerted and not hidden_red_alerts:
                    fail(msg("score {score}: red finding {rule} {dedupe} has no red_finding alert (deleted)",
                             score=sid, rule=f.get("rule"), dedupe=f.get("dedupe")))
