"""Covenant breaches of a bank's facility (issue 15 item 3, ``repay_covenants``) on replayed histories.

The world of test_facility_coverage (honest and collateral_removed sim-history replays, three days, into a real
receiver; two banks): a facility with covenants is set through the bank API, prices through the CLI, and
``coverage run`` checks the covenants on the verified data the bank is granted. A breach is a finding with the
covenant, limit, observed value and period; a month without data is "not observed", never a breach or a zero;
the per-enterprise signed report (and its rescore) is untouched by any bank's facility.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import test_facility_coverage
from hypothesis import given
from hypothesis import strategies as st
from test_facility_coverage import World, facility

from cloud_stub import coverage_run
from cloud_stub.analysis import analyse, verify_score
from cloud_stub.rules.repay_covenants import judge_concentration, judge_output, last_full_month, month_output

world, world_store = test_facility_coverage.world, test_facility_coverage.world_store  # its fixtures, rerun here


def covenant_findings(world: World, ent: str) -> list[dict[str, Any]]:
    with world.r.rdb.read() as conn:
        return [json.loads(d) for (d,) in conn.execute(
            "SELECT detail FROM bank_findings WHERE enterprise_id = ? AND kind = 'repay_covenants' ORDER BY id",
            (ent,))]


def test_breaches_carry_the_numbers_and_a_month_without_data_is_not_observed(world: World) -> None:
    d = world.last_day.isoformat()
    world.prices("bank-demo", [(d, "copper-rod", 35.0)])  # ~1,850 kg x 35 = ~64,700 over 70,000: ~0.92
    doc = facility("ent-hon", 70000, min_coverage=1.3, max_concentration_pct=5, min_monthly_output=1000)
    assert world.put("bank-demo", "loan-cov-1", doc)[0] == 200
    out = coverage_run.run_bank(world.r.rdb, "bank-demo", world.as_of, "ent-hon")
    (a,) = [x for x in out["facilities"] if x["facility_id"] == "loan-cov-1"]
    by = {(c["covenant"], c.get("side")): c for c in a["covenants"]}
    # coverage: breached with the exact number
    cov = by[("min_coverage", None)]
    assert cov["status"] == "breached" and cov["limit"] == 1.3 and 0.85 < cov["observed"] < 1.0, cov
    # output: the history lies in September; of the last full month (August) only a few days carry an MES
    # figure: not observed (no monthly total, never 0), with the coverage
    out_c = by[("min_monthly_output", None)]
    assert out_c["status"] == "not_observed" and out_c["observed"] is None, json.dumps(out_c)
    assert out_c["coverage"]["days"] == 31 and out_c["coverage"]["days_observed"] < 31
    assert out_c["period"]["month"] == "2026-08"
    # concentration: the generated customers' HHI/100 is far above 5 %: a certain breach
    cust = by[("max_concentration_pct", "customer")]
    assert cust["status"] == "breached" and cust["observed"] > 5, json.dumps(cust)
    assert abs(cust["hhi"] / 100 - cust["observed"]) < 0.01
    got = covenant_findings(world, "ent-hon")
    names = sorted(f["compared"]["covenant"] for f in got)
    assert "min_coverage" in names and "max_concentration_pct" in names and "min_monthly_output" not in names
    for f in got:
        assert f["rule"] == "repay_covenants" and f["version"] == 1 and f["subscore"] == "repayment_capacity"
        assert f["extra"]["bank"] == "bank-demo" and f["extra"]["facility_id"] == "loan-cov-1"
        assert {"covenant", "limit", "observed", "period"} <= set(f["compared"]), f
    mc = next(f for f in got if f["compared"]["covenant"] == "min_coverage")
    assert "below the minimum 1.3x" in mc["message"] and mc["direction"] == "below"
    # bank-b sees nothing of bank-demo's covenant findings (they are in bank-demo's private chain)
    for path in ("findings", "bank-findings"):
        _, fpage = world.get("bank-b", f"/v1/feed/ent-hon/{path}?limit=1000")
        assert not [i for i in fpage["items"] if i["kind"] == "repay_covenants"]
        assert "loan-cov-1" not in json.dumps(fpage)
    _, fpage = world.get("bank-demo", "/v1/feed/ent-hon/bank-findings?limit=1000")
    assert {i["detail"]["extra"]["facility_id"] for i in fpage["items"] if i["kind"] == "repay_covenants"} == \
        {"loan-cov-1"}
    # the bank's feed verify passes with its covenant findings in its private chain (V51-V54)
    from cloud_stub import feed_verify

    v = feed_verify.verify_feed(world.r.url, "ent-hon", world.tokens["bank-demo"])
    assert v["failures"] == [] and v["failed"] == 0, v["failures"][:5]
    # the same breach on the next run is raised once; covenant breaches raise no margin_call alert of their own
    coverage_run.run_bank(world.r.rdb, "bank-demo", world.as_of, "ent-hon")
    assert len(covenant_findings(world, "ent-hon")) == len(got)
    assert all(al["detail"]["rule"] == "collateral_coverage" for al in out["alerts"])


def test_a_met_covenant_raises_nothing(world: World) -> None:
    d = world.last_day.isoformat()
    world.prices("bank-b", [(d, "copper-rod", 60.0)])  # ~1.59 covered
    doc = facility("ent-hon", 70000, min_coverage=1.2, max_concentration_pct=100)
    assert world.put("bank-b", "loan-b-ok", doc)[0] == 200
    before = [f for f in covenant_findings(world, "ent-hon") if f["extra"]["bank"] == "bank-b"]
    out = coverage_run.run_bank(world.r.rdb, "bank-b", world.as_of, "ent-hon")
    (a,) = [x for x in out["facilities"] if x["facility_id"] == "loan-b-ok"]
    by = {(c["covenant"], c.get("side")): c["status"] for c in a["covenants"]}
    # the history's ERP has no purchases: the supplier side is not observed (not met, not breached)
    assert by == {("max_concentration_pct", "customer"): "met", ("max_concentration_pct", "supplier"): "not_observed",
                  ("min_coverage", None): "met"}, a["covenants"]
    assert [f for f in covenant_findings(world, "ent-hon") if f["extra"]["bank"] == "bank-b"] == before == []


def test_the_signed_report_carries_no_facility_and_rescores_identically(world: World) -> None:
    doc = facility("ent-rem", 70000, min_coverage=5.0, max_concentration_pct=5)
    doc["pledges"][0]["product_class"] = "copper-rod"
    assert world.put("bank-demo", "loan-rem-cov", doc)[0] == 200
    with world.r.rdb.read() as conn:
        old = [r[0] for r in conn.execute("SELECT id FROM scores WHERE enterprise_id = 'ent-rem' ORDER BY id")]
    coverage_run.run_bank(world.r.rdb, "bank-demo", world.as_of, "ent-rem")
    assert covenant_findings(world, "ent-rem")  # breaches found for this bank
    rep = analyse(world.r.rdb, "ent-rem", as_of=world.as_of // 3600 * 3600, days=4, signing_key=world.r.key)
    assert "repay_covenants" not in rep["repayment"]["rules"]
    assert not [f for f in rep["repayment"]["findings"] if f["rule"] == "repay_covenants"]
    assert "loan-rem-cov" not in json.dumps(rep)
    with world.r.rdb.read() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM scores WHERE enterprise_id = 'ent-rem' ORDER BY id")]
    for sid in (*old, ids[-1]):  # the report made before the facility and the new one
        v = verify_score(world.r.rdb, sid)
        assert v["reproducible"], v


@given(limit=st.floats(0.1, 100), hhi=st.floats(0, 10000))
def test_concentration_breach_only_when_the_lower_bound_exceeds_the_limit(limit: float, hhi: float) -> None:
    status, lo, hi = judge_concentration(limit, hhi)
    assert lo <= hi + 1e-9
    assert (status == "breached") == (hhi / 100 > limit)
    if status == "met":
        assert hi <= limit
    assert status in ("met", "breached", "undetermined")  # an observed index is never "not observed"


@given(vals=st.lists(st.one_of(st.none(), st.floats(0, 1e6)), min_size=30, max_size=30),
       limit=st.floats(0, 3e7))
def test_a_partial_month_is_never_a_breach_and_missing_is_never_zero(vals: list[float | None], limit: float) -> None:
    first = 1_000_000_000 - 1_000_000_000 % 86400
    starts = np.array([first + i * 86400 for i in range(30)], dtype=np.int64)
    arr = np.array([np.nan if v is None else v for v in vals])
    got = month_output(starts, arr, first, first + 30 * 86400)
    status = judge_output(limit, got)
    assert got["days"] == 30 and got["days_observed"] == sum(v is not None for v in vals)
    if got["days_observed"] == 0:
        assert got["total"] is None and status == "not_observed"
    if status == "breached":
        assert got["days_observed"] == 30 and got["total"] < limit


def test_the_last_full_month_is_local() -> None:
    # 2026-10-01 00:30 in UTC+8 is 2026-09-30 16:30 UTC: the last full month is September there
    as_of = 1790785800  # 2026-09-30T16:30:00Z
    first, end, label = last_full_month(np.array([]), as_of, 8 * 3600)
    assert label == "2026-09" and end - first == 30 * 86400 and (first + 8 * 3600) % 86400 == 0
