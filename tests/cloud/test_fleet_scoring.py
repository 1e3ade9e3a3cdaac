"""Silence counts in the score: a gateway dark for two working days while the MES goes on claiming
output does not score A / green (issue 14: under offline_production v2 it scored A, yellow).

The synthetic factory goes through real ingest and the real analysis; the score is signed and
recomputed identically from its stored inputs.
"""

from __future__ import annotations

from pathlib import Path

from rule_inputs_helpers import Factory
from test_analysis_scenarios import codes, score

from cloud_stub.analysis import verify_score


def test_two_dark_working_days_with_claims_are_not_a_green_a(tmp_path: Path) -> None:
    # Day 15 of the test factory is a Wednesday: Wed and Thu dark all day, the MES claims as usual.
    report, rdb = score(tmp_path, Factory(days=28, offline=[(15, 0, 24), (16, 0, 24)]))
    try:
        (f,) = [f for f in report["findings"] if f["rule"] == "offline_production"]
        assert (f["version"], f["severity"], f["statistic"]["longest_run_days"]) == (3, "red", 2)
        assert "DI02" in codes(report)
        assert report["grade"] != "A" and report["warning_level"] not in ("green", "yellow"), (
            report["grade"], report["warning_level"])
        assert verify_score(rdb, 1)["reproducible"] is True
    finally:
        rdb.close()
