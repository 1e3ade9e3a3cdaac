"""V53 against the rule itself (Hypothesis): whatever numbers repay_covenants judges, the result it serves
(rounded as served) passes the bank's check and the document's code, and a result stating another status
fails both, unless the served rounding leaves that status possible too."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from test_feed_verify_doc import doc_verifier

from cloud_stub.feed_verify_bank import _status_ok
from cloud_stub.rules._common import r
from cloud_stub.rules.repay_covenants import judge_concentration, judge_output

DOC = doc_verifier()
STATUSES = ("met", "breached", "undetermined", "not_observed")


def _served_concentration(limit: float, hhi: float) -> dict[str, Any]:
    status, lo, hi = judge_concentration(limit, hhi)
    return {"covenant": "max_concentration_pct", "side": "customer", "limit": limit, "observed": r(lo, 2),
            "hhi": r(hhi, 1), "largest_share_pct_at_most": r(hi, 2), "status": status}


def _doc_allows(res: dict[str, Any], coverage: Any) -> set[str]:
    return DOC["covenant_status"](res, coverage)


@given(limit=st.floats(0.1, 100), hhi=st.floats(0, 10000))
def test_concentration_as_served_passes_and_another_status_fails(limit: float, hhi: float) -> None:
    res = _served_concentration(limit, hhi)
    assert _status_ok(res, None) is None, res
    assert res["status"] in _doc_allows(res, None)
    for other in STATUSES:
        if other != res["status"] and other not in _doc_allows(res, None):
            assert _status_ok({**res, "status": other}, None) is not None


@given(limit=st.floats(0, 1e7), total=st.floats(0, 1e7), seen=st.integers(0, 31))
def test_monthly_output_as_served_passes(limit: float, total: float, seen: int) -> None:
    got = {"total": total if seen else None, "days_observed": seen, "days": 31}
    status = judge_output(limit, got)
    res = {"covenant": "min_monthly_output", "limit": limit, "status": status,
           "observed": None if status == "not_observed" else r(total, 2),
           "coverage": {"days_observed": seen, "days": 31}}
    assert _status_ok(res, None) is None, res
    assert status in _doc_allows(res, None)
    if status == "met" and r(total, 2) - 0.005 >= limit:
        assert _status_ok({**res, "status": "breached"}, None) is not None


@given(limit=st.floats(0.1, 5), coverage=st.floats(0, 10))
@example(limit=1.0, coverage=0.375)  # 0.38 - 0.375 is a hair over 0.005 in binary: found by Hypothesis in CI
def test_min_coverage_as_served_passes(limit: float, coverage: float) -> None:
    status = "breached" if coverage < limit else "met"
    res = {"covenant": "min_coverage", "limit": limit, "observed": r(coverage, 4), "status": status}
    served = {"coverage": r(coverage, 2)}
    assert _status_ok(res, served) is None, res
    assert status in _doc_allows(res, served)
    flipped = "met" if status == "breached" else "breached"
    if not math.isclose(r(coverage, 4), limit, abs_tol=0.0001):
        assert _status_ok({**res, "status": flipped}, served) is not None
        assert flipped not in _doc_allows(res, served)
