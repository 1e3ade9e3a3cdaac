"""Collateral rules: removal without a stock record, geofence exits, storage excursions."""

from __future__ import annotations

from rule_inputs_helpers import Factory, build, evidence

from cloud_stub.db import ReceiverDB
from cloud_stub.rules import all_rules

RULES = ("collateral_weight", "collateral_changes", "geofence", "storage_conditions")


def findings(tmp_path, f: Factory) -> dict:
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    build(rdb, f)
    ev = evidence(rdb, days=f.days)
    rules = all_rules()
    return {rid: rules[rid]().evaluate(ev, dict(rules[rid].defaults)) for rid in RULES}


def test_honest_pledge_is_quiet(tmp_path):
    assert findings(tmp_path, Factory(days=14)) == {r: [] for r in RULES}


def test_removal_without_stock_record_is_red_with_the_weight(tmp_path):
    got = findings(tmp_path, Factory(days=14, removal=(10, 3, 400.0), geofence_exit=(5, 2, 3),
                                     excursion={4: 30.0, 6: 50.0}))
    (c,) = got["collateral_changes"]
    assert (c.severity, c.direction, c.compared["removed_kg"], c.compared["steps"]) == ("red", "below", 400.0, 1)
    assert 20 < c.statistic["removed_pct_of_typical"] < 23
    (w,) = got["collateral_weight"]
    assert w.severity == "red" and -22.5 < w.compared["drift_now_pct"] < -20.5
    (g,) = got["geofence"]
    assert (g.severity, g.compared["exits"], g.compared["hours_outside"]) == ("orange", 1, 3.0)
    (s,) = got["storage_conditions"]
    assert (s.severity, s.compared["minutes_outside"], s.statistic["excursion_days"]) == ("orange", 480.0, 2)


def test_goods_still_outside_the_geofence_at_the_end_are_red(tmp_path):
    (g,) = findings(tmp_path, Factory(days=7, geofence_exit=(6, 20, 10)))["geofence"]
    assert g.severity == "red" and g.compared["outside_at_end"] is True
