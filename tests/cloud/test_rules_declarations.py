"""Declared events at the receiver: rules treat declared periods as expected, and the
``declarations`` rule keeps declaring from hiding fraud.

The factory's records and the declarations (built by the gateway's own
``gateway.declarations.ledger.record``) go through the real ingest as signed batches; the
rules read what the receiver stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rule_inputs_helpers import DAY0, Factory, build, evidence, push

from cloud_stub import declarations as recv_decl
from cloud_stub.analysis import _rules_of, run_analysis, verify_score
from cloud_stub.db import ReceiverDB
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules import all_rules, base
from cloud_stub.rules.base import Finding
from cloud_stub.rules.changepoints import Changepoints, ChangepointsV1
from gateway.declarations import ledger, model

D = 86400


def declaration(did: int, kind: str, first_day: int, days: float, declared_at: float | None = None,
                assets: tuple[str, ...] = ()) -> dict[str, Any]:
    start = DAY0 + first_day * D
    row = {"id": did, "action": "declare", "kind": kind, "start": start, "end": start + days * D,
           "assets": list(assets), "declared_at": start - 7 * D if declared_at is None else declared_at}
    return ledger.record(row, "site-1")


def withdrawal(did: int, target: int, at: float) -> dict[str, Any]:
    return ledger.record({"id": did, "action": "withdraw", "withdraws": target, "declared_at": at}, "site-1")


def make(tmp: Path, f: Factory, decls: list[dict[str, Any]], edit: Any = None) -> RuleInputs:
    rdb = ReceiverDB(tmp / "r.db", synchronous="OFF")
    try:
        recs = f.records()
        if edit is not None:
            edit(recs)
        gw = build(rdb, Factory(days=0))  # enrolled, nothing sent yet
        push(rdb, gw, recs)
        if decls:
            push(rdb, gw, decls)
        return evidence(rdb, days=f.days)
    finally:
        rdb.close()


def run(ev: RuleInputs, rule: str | None = None) -> list[Finding]:
    return [f for rid, cls in sorted(all_rules().items()) if rule is None or rid == rule
            for f in cls().evaluate(ev, dict(cls.defaults))]


def above_info(ev: RuleInputs) -> list[tuple[str, str, str]]:
    return [(f.rule, f.key.split(":")[0], f.severity) for f in run(ev) if f.severity != "info"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    cache: dict[str, RuleInputs] = {}

    def get(name: str, f: Factory, decls: list[dict[str, Any]], edit: Any = None) -> RuleInputs:
        if name not in cache:
            cache[name] = make(tmp_path_factory.mktemp(name), f, decls, edit)
        return cache[name]
    return get


STOP = set(range(12, 24))  # 12 days, both weekends inside: an undeclared stoppage is yellow


def test_receiver_kinds_are_the_gateways() -> None:
    assert recv_decl.KINDS == model.KINDS


def test_an_undeclared_shutdown_is_yellow_a_declared_one_only_noted(scenario) -> None:
    plain = scenario("plain", Factory(stopped=STOP), [])
    assert above_info(plain) == [("changepoints", "stoppage", "yellow")]
    assert len(plain.declarations) == 0
    ev = scenario("declared", Factory(stopped=STOP), [declaration(1, "planned_downtime", 12, 12)])
    assert above_info(ev) == []
    (f,) = [f for f in run(ev, "changepoints") if f.key.startswith("stoppage")]
    assert f.severity == "info" and f.compared["declared_days"] >= 12
    assert f.compared["declarations"] == ["gw-1/1"] and "declared" in f.message
    assert ev.digest() != plain.digest()
    # Maintenance of one press does not excuse a whole-site stoppage.
    one = scenario("one_asset", Factory(stopped=STOP), [declaration(1, "maintenance", 12, 12, assets=("press-1",))])
    assert above_info(one) == [("changepoints", "stoppage", "yellow")]


def test_a_withdrawn_declaration_excuses_nothing(scenario) -> None:
    ev = scenario("withdrawn", Factory(stopped=STOP), [declaration(1, "holiday", 12, 12),
                                                       withdrawal(2, 1, DAY0 + 5 * D)])
    (d,) = ev.declarations.items
    assert d.withdrawn_at == DAY0 + 5 * D and ev.declarations.active() == []
    assert above_info(ev) == [("changepoints", "stoppage", "yellow")]


def test_version_1_ignores_declarations_and_stays_registered_for_rescore(scenario) -> None:
    ev = scenario("declared", Factory(stopped=STOP), [declaration(1, "planned_downtime", 12, 12)])
    v1 = [f for f in ChangepointsV1().evaluate(ev, dict(Changepoints.defaults)) if f.key.startswith("stoppage")]
    assert [(f.version, f.severity) for f in v1] == [(1, "yellow")] and "declared_days" not in v1[0].compared
    assert _rules_of({"rules": {"changepoints": 1}}, 0) == {"changepoints": ChangepointsV1}


def test_claims_in_declared_downtime_are_red(scenario) -> None:
    ev = scenario("claims", Factory(stopped={15, 16, 17, 18, 19}, claim_when_stopped=True),
                  [declaration(1, "holiday", 15, 5)])
    found = {(f.rule, f.key.split(":")[0]): f for f in run(ev)}
    c = found[("declarations", "claims_in_declared")]
    assert (c.severity, c.subscore, c.statistic["claimed_days"]) == ("red", "production_authenticity", 3)
    assert c.compared["declaration"] == "gw-1/1"
    # The stoppage rule still sees claims through a stoppage: declaring it made nothing possible.
    assert found[("changepoints", "claims_in_stoppage")].severity == "red"


def test_declarations_made_after_each_stoppage_are_flagged(scenario) -> None:
    stops = [(1, 3), (8, 10), (15, 17), (22, 24)]
    late = [declaration(i + 1, "maintenance", a, b - a + 1, declared_at=DAY0 + (b + 1) * D + 3600)
            for i, (a, b) in enumerate(stops)]
    f = Factory(stopped={d for a, b in stops for d in range(a, b + 1)})
    ev = scenario("late", f, late)
    (x,) = run(ev, "declarations")
    # 4 late declarations (yellow from 3) over 12 stopped days (orange from 10): orange.
    assert (x.key, x.severity, x.direction) == ("late_declarations", "orange", "declared_after_the_fact")
    assert x.statistic["late_over_anomalies"] == 4 and x.statistic["anomalous_days_covered"] == 12
    assert x.compared["late_declarations"][0]["declared_after_h"] == 73.0
    # The same declarations made a week in advance: nothing to say.
    early = scenario("early", f, [declaration(i + 1, "maintenance", a, b - a + 1) for i, (a, b) in enumerate(stops)])
    assert run(early, "declarations") == []


def test_declaring_most_of_the_period_away_is_seen(scenario) -> None:
    ev = scenario("share", Factory(stopped=set(range(4, 25))), [declaration(1, "planned_downtime", 4, 21)])
    (x,) = run(ev, "declarations")
    assert (x.key, x.severity, x.subscore) == ("declared_share", "orange", "operating_stability")
    assert x.compared["declared_days"] == 21


def _putback(recs: list[dict[str, Any]]) -> None:
    """The 100 kg removed at day 10 09:00 come back at 11:00 (a stocktake's recount)."""
    t = DAY0 + 10 * D + 11 * 3600
    for r in recs:
        if r["name"] == "collateral.unexplained_changes" and r["window"]["start"] == t:
            r["value"] = 1.0
            r["detail"] = {"steps": 1, "unexplained_kg": 100.0}


def test_collateral_steps_inside_a_declared_stocktake_are_expected(scenario) -> None:
    f = Factory(removal=(10, 9, 100.0))
    plain = scenario("st_plain", f, [], _putback)
    assert [(x.severity, x.compared["steps"]) for x in run(plain, "collateral_changes")] == [("red", 2)]
    st = declaration(1, "stocktake", 10, 1, assets=("pallet-stack-1",))
    ev = scenario("st_declared", f, [st], _putback)
    (x,) = run(ev, "collateral_changes")
    assert (x.severity, x.direction, x.statistic["net_kg"]) == ("info", "declared", 0.0)
    # Goods that left during a stocktake and never came back are still a removal.
    gone = scenario("st_gone", f, [st])
    (y,) = run(gone, "collateral_changes")
    assert y.severity == "red" and y.compared["removed_kg"] == 100.0


def test_an_old_score_made_with_version_1_still_rescores(tmp_path: Path) -> None:
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    try:
        gw = build(rdb, Factory(stopped=STOP))
        push(rdb, gw, [declaration(1, "planned_downtime", 12, 12)])
        as_of = DAY0 + 28 * D
        base._REGISTRY["changepoints"] = ChangepointsV1  # the receiver as it was before declarations
        try:
            old = run_analysis(rdb, "ent-1", as_of, 28)
        finally:
            base._REGISTRY["changepoints"] = Changepoints
        assert old.report["rules"]["changepoints"] == 1
        new = run_analysis(rdb, "ent-1", as_of, 28)
        assert new.report["rules"]["changepoints"] == 2
        assert verify_score(rdb, old.score_id)["reproducible"] is True
        assert verify_score(rdb, new.score_id)["reproducible"] is True
    finally:
        rdb.close()
