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


def test_a_score_made_with_offline_production_v2_still_rescores_identically(tmp_path: Path) -> None:
    """A receiver from before v3 (v2 in the registry, as the packs test does) scored the same dark
    factory A with a yellow warning; that score still recomputes identically, and v3's does not agree."""
    from nacl.signing import SigningKey
    from rule_inputs_helpers import DAY0, build

    from cloud_stub.analysis import run_analysis
    from cloud_stub.db import ReceiverDB
    from cloud_stub.rules import base, registered_version

    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    try:
        build(rdb, Factory(days=28, offline=[(15, 0, 24), (16, 0, 24)]))
        as_of, key = DAY0 + 28 * 86400, SigningKey.generate()
        v3, v2 = base._REGISTRY["offline_production"], registered_version("offline_production", 2)
        assert v2 is not None and v3.version == 3
        base._REGISTRY["offline_production"] = v2
        try:
            old = run_analysis(rdb, "ent-1", as_of, 28, signing_key=key)
        finally:
            base._REGISTRY["offline_production"] = v3
        new = run_analysis(rdb, "ent-1", as_of, 28, signing_key=key)
        assert (old.report["rules"]["offline_production"], new.report["rules"]["offline_production"]) == (2, 3)
        assert (old.report["grade"], old.report["warning_level"]) == ("A", "yellow")  # what issue 14 found
        assert new.report["grade"] != "A"
        check = verify_score(rdb, old.score_id, public_key=bytes(key.verify_key))
        assert check["reproducible"] is True, check
    finally:
        rdb.close()
