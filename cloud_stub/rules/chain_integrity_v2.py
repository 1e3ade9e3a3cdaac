"""chain_integrity **v2** (current): as v1 (chain_integrity.py, kept frozen for rescoring), except
that an observed gap the gateway closed by resending does not count.

A receiver restored from an older backup lacks batches it had acknowledged; the next batch a
gateway sends is ahead of its chain, so ingest records ``gap_observed`` and answers
``resend_from`` (docs/wire-format.md §16). When the resent batches complete the chain, ingest
records ``gap_filled`` naming the same (expected_seq, received_seq): nothing of the gateway's
data is missing, so v2 drops such pairs before v1's reading. A gap never filled stays yellow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules.base import Finding, register
from cloud_stub.rules.chain_integrity import ChainIntegrity


def _gap_key(detail: dict[str, Any]) -> tuple[Any, Any]:
    return detail.get("expected_seq"), detail.get("received_seq")


@register
class ChainIntegrityV2(ChainIntegrity):
    version = 2

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        filled = {(f.gateway_id, _gap_key(f.detail)) for f in ev.chain_findings if f.kind == "gap_filled"}
        kept = [f for f in ev.chain_findings if f.kind != "gap_filled"
                and not (f.kind == "gap_observed" and (f.gateway_id, _gap_key(f.detail)) in filled)]
        return super().evaluate(dataclasses.replace(ev, chain_findings=kept), params)  # Finding carries self.version
