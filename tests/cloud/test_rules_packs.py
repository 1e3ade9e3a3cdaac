"""shipments_vs_outcounts v3: packs against packs when the gateway sends ``erp.shipped_packs``.

A plant ships two products, 60 and 200 parts to a pack; the dispatch camera counts packs
(2 % missed). Halfway through the period the mix turns from the small pack to the large one.
The records go through the receiver's real ingest (signed batches) and the rules read them
through ``load_rule_inputs``; nothing of ours is mocked.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cloud_helpers import FakeGateway
from rule_inputs_helpers import DAY0, H, enrolled, evidence, push, rec

from cloud_stub.db import ReceiverDB
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules import all_rules
from cloud_stub.rules.base import Finding, registered_version

DAYS = 35
PACK = {"A": 60, "B": 200}


def plant(seed: int = 3, packs: bool = True, phantom: float = 0.0, no_move: frozenset[int] = frozenset()
          ) -> list[dict[str, Any]]:
    """Records of a 35-day plant; ``phantom`` adds that share of invented packs from day 21 on
    (in the ERP only); ``no_move`` days ship in the ERP with nothing leaving."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    for d in range(DAYS):
        start = DAY0 + d * 86400
        work = d % 7 not in (4, 5)
        mix = {"A": 20, "B": 2} if d < 17 else {"A": 4, "B": 14}
        real = {p: int(rng.poisson(n)) if work else 0 for p, n in mix.items()}
        claimed = {p: n + (math.ceil(n * phantom) if d >= 21 else 0) for p, n in real.items()}
        # the last pack of a line is often part-filled: parts = packs x size minus a few
        qty = sum(max(0, n * PACK[p] - (int(rng.integers(0, PACK[p] // 2)) if n else 0)) for p, n in claimed.items())
        n_packs = sum(claimed.values())
        out.append(rec("erp.shipped_qty", "erp", "enterprise", start, 86400, float(qty), "units",
                       [] if qty else ["no_rows"], {"period": "day"}))
        if packs:
            out.append(rec("erp.shipped_packs", "erp", "enterprise", start, 86400, float(n_packs), "packs",
                           [] if n_packs else ["no_rows"], {"period": "day", "counted_unit": "pack"}))
        moved = 0 if d in no_move else sum(real.values())
        seen = int(rng.binomial(moved, 0.98))
        per_hour = np.bincount(rng.integers(9, 17, size=seen), minlength=24) if seen else np.zeros(24, int)
        for h in range(24):
            out.append(rec("vision.units_out", "vision", "dispatch", start + h * H, H, float(per_hour[h]), "units"))
    return out


def inputs(tmp: Path, records: list[dict[str, Any]]) -> RuleInputs:
    rdb = ReceiverDB(tmp / "r.db", synchronous="OFF")
    try:
        push(rdb, enrolled(rdb, FakeGateway()), records)
        return evidence(rdb, days=DAYS)
    finally:
        rdb.close()


def shipments(ev: RuleInputs, version: int | None = None) -> list[Finding]:
    cls = all_rules()["shipments_vs_outcounts"] if version is None else registered_version(
        "shipments_vs_outcounts", version)
    assert cls is not None
    return cls().evaluate(ev, dict(cls.defaults))


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> RuleInputs:
    return inputs(tmp_path_factory.mktemp("honest"), plant())


def test_v3_is_registered_and_v2_kept_for_rescore() -> None:
    assert all_rules()["shipments_vs_outcounts"].version == 3
    v2 = registered_version("shipments_vs_outcounts", 2)
    assert v2 is not None and v2.version == 2 and "min_ship_packs" not in v2.defaults


def test_honest_plant_with_a_changing_mix_is_quiet_in_packs(honest: RuleInputs) -> None:
    assert [(f.severity, f.message) for f in shipments(honest) if f.severity != "info"] == []


def test_the_same_plant_in_parts_learns_one_ratio_and_cries_wolf(honest: RuleInputs) -> None:
    # v2 reads parts only: the ratio learned on small packs makes the large-pack weeks look inflated.
    found = [f for f in shipments(honest, 2) if f.severity != "info"]
    assert found and found[0].indicators == ("erp.shipped_qty", "vision.units_out")
    assert found[0].direction == "claims_exceed_evidence"


def test_parts_only_gateway_gives_v3_the_v2_findings(tmp_path: Path) -> None:
    """Without packs v3 reads parts as v2 did: v2's findings, each on erp.shipped_qty, plus v3's
    own per-out-movement check (unmatched shipments, also in parts)."""
    ev = inputs(tmp_path, plant(packs=False))
    v3 = {f.key: f for f in shipments(ev)}
    v2 = {f.key: f for f in shipments(ev, 2)}
    assert v2 and set(v2) <= set(v3)
    assert all(f.indicators[0] == "erp.shipped_qty" and f.severity == v3[k].severity for k, f in v2.items())
    assert all("erp.shipped_qty" in f.indicators for f in v3.values())


def test_phantom_packs_are_found_in_packs(tmp_path: Path) -> None:
    ev = inputs(tmp_path, plant(phantom=0.4))
    (f,) = [f for f in shipments(ev) if f.key.startswith("shipment_bias")]
    assert f.indicators == ("erp.shipped_packs", "vision.units_out")
    assert f.severity in ("orange", "red") and "packs" in f.message
    assert f.statistic["cumulative_excess_pct"] > 5


def test_packs_shipped_with_nothing_leaving_is_red(tmp_path: Path) -> None:
    # day 8 is a Wednesday: a few packs are 'shipped' (hundreds of parts) and the door counts 0
    ev = inputs(tmp_path, plant(no_move=frozenset({8})))
    (f,) = [f for f in shipments(ev) if f.key.startswith("no_out_movement")]
    assert f.severity == "red" and f.indicators[0] == "erp.shipped_packs"
    assert f.statistic["days_flagged"] == 1 and f.statistic["packs_shipped"] >= 1
    assert f.threshold["min_ship"] == 1.0 and "packs shipped" in f.message


def test_a_score_made_with_v2_still_rescores_identically(tmp_path: Path) -> None:
    from nacl.signing import SigningKey

    from cloud_stub.analysis import run_analysis, verify_score
    from cloud_stub.rules import base

    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    try:
        push(rdb, enrolled(rdb, FakeGateway()), plant())
        as_of, key = DAY0 + DAYS * 86400, SigningKey.generate()
        v3 = base._REGISTRY["shipments_vs_outcounts"]
        v2 = registered_version("shipments_vs_outcounts", 2)
        assert v2 is not None
        base._REGISTRY["shipments_vs_outcounts"] = v2  # a receiver from before v3
        try:
            old = run_analysis(rdb, "ent-1", as_of, DAYS, signing_key=key)
        finally:
            base._REGISTRY["shipments_vs_outcounts"] = v3
        assert old.report["rules"]["shipments_vs_outcounts"] == 2
        new = run_analysis(rdb, "ent-1", as_of, DAYS, signing_key=key)
        assert new.report["rules"]["shipments_vs_outcounts"] == 3
        # v2 raised its false alarm in parts, v3 is quiet in packs; the old score reproduces as made
        assert new.report != old.report
        check = verify_score(rdb, old.score_id, public_key=bytes(key.verify_key))
        assert check["reproducible"] is True, check
    finally:
        rdb.close()
