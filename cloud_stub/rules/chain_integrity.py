"""Chain integrity: what the receiver noticed about the signed chains while ingesting.

Reads the chain findings raised at ingest (not the rule findings): ``equivocation`` (two
different batches signed for one seq: red), ``rejected_batch`` (bad signature, foreign
key, broken chain: orange; unknown or revoked key: yellow), ``gap_declared`` (batches the
gateway itself dropped: severity by how many), ``gap_observed`` (a seq arrived ahead of
its predecessor: yellow), ``stale_seq`` (info).

v1, frozen for rescoring; the current version (chain_integrity_v2.py) discounts observed gaps
that the gateway's resend filled (``gap_filled``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_stub.rule_inputs import ChainFinding, RuleInputs
from cloud_stub.rules._common import level
from cloud_stub.rules.base import Finding, Rule, register

SERIOUS_REJECTIONS = ("bad_signature", "kid_mismatch", "gateway_mismatch", "chain_broken")


@register
class ChainIntegrity(Rule):
    id = "chain_integrity"
    version = 1
    subscore = "data_integrity"
    title = "Gaps, rejections and equivocation in the signed chains"
    defaults: Mapping[str, Any] = {"dropped_batches": {"yellow": 1, "orange": 10, "red": 50}}

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        by: dict[str, list[ChainFinding]] = {}
        for f in ev.chain_findings:
            by.setdefault(f.kind, []).append(f)
        out = []
        p0, p1 = ev.period_start, ev.period_end

        def add(kind: str, sev: str, compared: dict[str, Any], stat: dict[str, Any], thr: dict[str, Any],
                direction: str, msg: str) -> None:
            ids = [f.id for f in by[kind]]
            out.append(Finding(self.id, self.version, sev, self.subscore, f"{kind}:{ids[0]}-{ids[-1]}", p0, p1,
                               (), {**compared, "finding_ids": ids[:50]}, stat, thr, direction, msg))

        if "equivocation" in by:
            seqs = sorted({f.detail.get("seq") for f in by["equivocation"]}, key=str)
            add("equivocation", "red", {"seqs": seqs[:50], "gateways": sorted({str(f.gateway_id) for f in
                                                                                by["equivocation"]})},
                {"count": len(by["equivocation"])}, {"any": 1}, "conflicting",
                f"A gateway signed two different batches for the same sequence number {len(by['equivocation'])} "
                "time(s): its key or its state was copied; none of its data can be trusted without review.")
        if "rejected_batch" in by:
            codes: dict[str, int] = {}
            for f in by["rejected_batch"]:
                c = str(f.detail.get("code"))
                codes[c] = codes.get(c, 0) + 1
            serious = sum(n for c, n in codes.items() if c in SERIOUS_REJECTIONS)
            add("rejected_batch", "orange" if serious else "yellow", {"codes": codes},
                {"count": sum(codes.values()), "serious": serious}, {"orange": list(SERIOUS_REJECTIONS)}, "rejected",
                f"The receiver rejected {sum(codes.values())} batch(es) ("
                + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())) + ").")
        if "gap_declared" in by:
            dropped = sum(int(f.detail.get("count") or 0) for f in by["gap_declared"])
            lv = params["dropped_batches"]
            sev = level(dropped, lv["yellow"], lv["orange"], lv["red"]) or "yellow"
            add("gap_declared", sev, {"gaps": [[f.detail.get("first"), f.detail.get("last")] for f in
                                               by["gap_declared"]][:50]},
                {"batches_dropped": dropped, "gaps": len(by["gap_declared"])}, {"dropped_batches": dict(lv)},
                "missing", f"Gateways declared {dropped} batch(es) dropped in {len(by['gap_declared'])} gap(s): "
                "that data never reached the receiver.")
        if "gap_observed" in by:
            add("gap_observed", "yellow", {"expected_received": [[f.detail.get("expected_seq"),
                                                                  f.detail.get("received_seq")]
                                                                 for f in by["gap_observed"]][:50]},
                {"count": len(by["gap_observed"])}, {"any": 1}, "missing",
                f"{len(by['gap_observed'])} batch(es) arrived ahead of a missing predecessor.")
        if "stale_seq" in by:
            add("stale_seq", "info", {}, {"count": len(by["stale_seq"])}, {}, "stale",
                f"{len(by['stale_seq'])} batch(es) arrived behind the chain head.")
        return out
