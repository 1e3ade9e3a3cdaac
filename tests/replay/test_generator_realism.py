"""The realistic calibration plants (``--plant realistic``) and the new fraud patterns: what the
generator writes has the properties the detection bench relies on, for any seed and size.

Each property reads the files as the replay reads them (device CSVs, GBK MES exports, ERP
CSVs) and the ground truth the manifest (scenario.json) records, so a generator that stopped
injecting a pattern, or injected it where the manifest does not say, fails here.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.replay.scenarios import SIZES, ScenarioConfig, write_scenario
from tests.replay.replay_helpers import edgeproof

TZ = ZoneInfo("Asia/Shanghai")
START = date(2026, 3, 2)  # a Monday, no profile holiday near
FAST = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def rows(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def gen(root: Path, scenario: str, **kw: object) -> tuple[Path, dict]:
    d = root / f"{scenario}-{len(list(root.glob('*')))}"
    cfg = {"days": 21, "interval_s": 900, "seed": 5, "plant": "realistic", "start": START, **kw}
    meta = write_scenario(ScenarioConfig(scenario=scenario, **cfg), d)  # type: ignore[arg-type]
    assert json.loads((d / "scenario.json").read_text()) == meta
    return d, meta


def ts(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def shipments(d: Path) -> list[dict[str, str]]:
    return rows(d / "exports" / "erp-shipments" / "shipments.csv")


@FAST
@given(seed=st.integers(0, 10_000), interval=st.sampled_from([300, 900, 3600]))
def test_realistic_plants_are_physically_plausible(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                                    interval: int) -> None:
    d, meta = gen(tmp_path_factory.mktemp("real"), "honest", seed=seed, interval_s=interval)
    real = meta["plant"]["realism"]
    assert meta["ground_truth"] == {"pattern": "honest", "onset_date": None, "onset_ts": None, "size": None,
                                    "size_unit": None}
    meter = rows(d / "press-1-meter.csv")
    kwh = [float(r["import_kwh"]) for r in meter]
    times = [ts(r["timestamp"]) for r in meter]
    # Registers only count up; every row is on the sampling grid.
    assert all(b >= a for a, b in zip(kwh, kwh[1:], strict=False))
    assert all((b - a) % interval == 0 and b > a for a, b in zip(times, times[1:], strict=False))
    # Outages: no rows inside, and the register jumps by what the meter counted meanwhile.
    for lo, hi in real["outages"]:
        assert not [t for t in times if lo <= t < hi]
        before = [i for i, t in enumerate(times) if t < lo]
        if before and before[-1] + 1 < len(times):
            i = before[-1]
            gap = times[i + 1] - times[i]
            assert gap > interval and kwh[i + 1] - kwh[i] >= 1.0 * gap / 3600  # idle load >= 1 kW over the gap
    # The scale: creep bounded by +-0.05 %/day, a forklift adds its load only while it rests there.
    weights = {ts(r["timestamp"]): float(r["weight"]) for r in rows(d / "pallet-scale.csv")}
    assert abs(real["scale_drift_pct_per_day"]) <= 0.05 and 0 <= real["scale_diurnal_pct"] <= 0.03
    heavy = [t for t, w in weights.items() if w > 1850 * 1.05]
    days = {datetime.fromtimestamp(t, TZ).date().isoformat() for t in heavy}
    assert days <= set(real["forklifts"])
    assert len(heavy) * interval <= sum(m * 60 for _, m, _ in real["forklifts"].values()) + len(days) * interval
    # Working pattern: output only on working days, within the plant's hours.
    plc = rows(d / "press-1-plc.csv")
    cycles = [int(r["cycles"]) for r in plc]
    start_h, end_h = real["shift"]
    for a, b, q, r in zip(cycles, cycles[1:], plc, plc[1:], strict=False):
        if ts(r["timestamp"]) - ts(q["timestamp"]) > interval:
            continue  # across an outage the register jumps by what was counted meanwhile
        if b > a:
            local = datetime.fromisoformat(r["timestamp"]) - timedelta(seconds=interval)
            assert start_h <= local.hour + local.minute / 60 < end_h
            assert local.weekday() < 5 or local.date().isoformat() in real["saturdays"]


@FAST
@given(seed=st.integers(0, 10_000), size=st.sampled_from([0.2, 0.5, 1.0]))
def test_phantom_shipments_ride_on_days_with_a_real_truck(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                                         size: float) -> None:
    d, meta = gen(tmp_path_factory.mktemp("ph"), "phantom_shipments", seed=seed, size=size, onset_day=7)
    gt = meta["ground_truth"]
    assert gt["pattern"] == "phantom_shipments" and gt["size"] == size and gt["onset_date"] == "2026-03-09"
    per_day = Counter(r["日期"] for r in shipments(d))
    fakes = gt.get("phantom_days", [])
    assert all(day >= gt["onset_date"] for day in fakes)
    assert all(per_day[day] >= 2 for day in fakes)  # the fake note and at least one real truck
    truth = meta["truth"]
    assert (truth["shipped_claimed"] > truth["shipped_physical"]) == bool(fakes)
    honest, _ = gen(tmp_path_factory.mktemp("ph-honest"), "honest", seed=seed)
    # The physical history is the honest plant's: the door camera counted the same.
    assert (d / "cam-dispatch.csv").read_bytes() == (honest / "cam-dispatch.csv").read_bytes()


@FAST
@given(seed=st.integers(0, 10_000), size=st.sampled_from([0.05, 0.1, 0.3]))
def test_collateral_leaves_at_once_or_in_steps_as_the_manifest_says(tmp_path_factory: pytest.TempPathFactory,
                                                                    seed: int, size: float) -> None:
    root = tmp_path_factory.mktemp("coll")
    for name, steps in (("collateral_removed", 1), ("collateral_steps", 5)):
        _, meta = gen(root, name, seed=seed, size=size, onset_day=10)
        removals = meta["ground_truth"]["removals"]
        assert len(removals) == steps
        assert math.isclose(sum(x["kg"] for x in removals), size * 1850, abs_tol=0.5)
        assert min(x["at"] for x in removals) >= meta["ground_truth"]["onset_ts"]


def test_an_idle_plant_claims_a_normal_day_while_its_machines_stand(tmp_path: Path) -> None:
    d, meta = gen(tmp_path, "idle_claims", onset_day=14)
    onset = meta["ground_truth"]["onset_date"]
    plc = rows(d / "press-1-plc.csv")
    after = [int(r["cycles"]) for r in plc if r["timestamp"][:10] >= onset]
    assert after[0] == after[-1]  # not one stroke since the onset
    claimed: dict[str, int] = {}
    for p in (d / "exports" / "mes-production").glob("*.csv"):
        for r in rows(p, "gbk"):
            claimed[r["日期"]] = claimed.get(r["日期"], 0) + int(r["良品数"])
    before = sorted(v for k, v in claimed.items() if k < onset)
    since = [v for k, v in claimed.items() if k >= onset]
    assert since and min(since) >= 0.8 * before[len(before) // 2]


def test_basic_plants_are_unchanged_by_the_realism_settings(tmp_path: Path) -> None:
    """The five original scenarios keep their bytes: the realism draws from its own streams."""
    a = tmp_path / "a"
    write_scenario(ScenarioConfig(scenario="inflated", days=8, interval_s=900, seed=5), a)
    b = tmp_path / "b"
    write_scenario(ScenarioConfig(scenario="inflated", days=8, interval_s=900, seed=5, size=0.35), b)
    for p in a.rglob("*.csv"):
        assert p.read_bytes() == (b / p.relative_to(a)).read_bytes(), p


@pytest.mark.parametrize(("kw", "needle"), [
    ({"plant": "fancy"}, "plant is one of"),
    ({"size": -0.1}, "size must be a finite number >= 0"),
    ({"size": float("nan")}, "size must be a finite number >= 0"),
    ({"onset_day": 30}, "onset_day must be a day index in 0..20"),
    ({"packs": "pallets"}, "packs is 'uniform' or 'mixed'"),
])
def test_bad_settings_are_refused_with_the_setting_named(kw: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        ScenarioConfig(scenario="inflated", days=21, **kw)


def test_every_pattern_has_a_size_unit_and_the_cli_writes_it(tmp_path: Path) -> None:
    assert set(SIZES) == {"inflated", "drift", "collateral_removed", "collateral_steps", "offline",
                          "phantom_shipments", "idle_claims",
                          # the repayment patterns of `replay generate --finance` (issue 15)
                          "slow_payers", "order_stall", "revenue_drop", "concentrated", "late_orders"}
    out = tmp_path / "cli"
    proc = edgeproof("replay", "generate", "--scenario", "inflated", "--plant", "realistic", "--size", "0.15",
                     "--days", "10", "--onset-day", "5", "--interval", "3600", "--start", "2026-03-02",
                     "--out", str(out))
    gt = json.loads(proc.stdout)["ground_truth"]
    assert gt["pattern"] == "inflated" and gt["size"] == 0.15 and gt["onset_date"] == "2026-03-07"
    assert gt["size_unit"] == SIZES["inflated"][0]
    bad = edgeproof("replay", "generate", "--scenario", "inflated", "--size", "-1", "--out", str(tmp_path / "x"),
                    check=False)
    assert bad.returncode != 0 and "--size" in bad.stderr
