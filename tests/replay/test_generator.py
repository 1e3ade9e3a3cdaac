"""The scenario generator: deterministic by seed, the scenarios differ only by their pattern,
the working calendar is the profile's, and what it writes is valid replay data."""

from __future__ import annotations

import asyncio
import csv
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.profile import load_profile
from gateway.replay.data import parse_timestamp, scan
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from gateway.replay.session import profile_points
from tests.replay.replay_helpers import edgeproof

TZ = ZoneInfo("Asia/Shanghai")


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def device_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in files(root).items() if "/" not in k and k.endswith(".csv")}


def rows(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def mes_by_day(root: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in sorted((root / "exports" / "mes-production").glob("*.csv")):
        for r in rows(p, "gbk"):
            out[r["日期"]] = out.get(r["日期"], 0) + int(r["良品数"])
    return out


def gen(tmp: Path, name: str, **kw: object) -> Path:
    d = tmp / name
    write_scenario(ScenarioConfig(scenario=name, **{"days": 8, "interval_s": 900, "seed": 5, **kw}), d)  # type: ignore[arg-type]
    return d


def test_the_same_seed_writes_the_same_bytes_another_seed_does_not(tmp_path: Path) -> None:
    a = gen(tmp_path / "a", "honest")
    b = gen(tmp_path / "b", "honest")
    c = gen(tmp_path / "c", "honest", seed=6)
    assert files(a) == files(b)
    assert device_files(a) != device_files(c)


def test_scenarios_change_only_what_the_records_claim(tmp_path: Path) -> None:
    honest = gen(tmp_path, "honest", onset_day=3)
    inflated = gen(tmp_path, "inflated", onset_day=3)
    drift = gen(tmp_path, "drift", onset_day=3)
    assert device_files(honest) == device_files(inflated) == device_files(drift)  # machines, cameras, energy
    h, i, d = mes_by_day(honest), mes_by_day(inflated), mes_by_day(drift)
    assert h.keys() == i.keys() == d.keys() and len(h) == 6  # Mon 2026-09-07 .. Mon 09-14, weekends off
    for n, day in enumerate(sorted(h)):
        k = (date.fromisoformat(day) - date(2026, 9, 7)).days
        assert i[day] == (round(h[day] * 1.35) if k >= 3 else h[day]), day
        assert d[day] == (round(h[day] * (1 + 0.01 * (k - 3 + 1))) if k >= 3 else h[day]), (n, day)
    hs = {r["发货单号"]: int(r["数量"]) for r in rows(honest / "exports" / "erp-shipments" / "shipments.csv")}
    ins = {r["发货单号"]: (r["日期"], int(r["数量"]))
           for r in rows(inflated / "exports" / "erp-shipments" / "shipments.csv")}
    assert hs.keys() == ins.keys()
    for no, (day, qty) in ins.items():
        late = date.fromisoformat(day) >= date(2026, 9, 10)
        assert qty == (round(hs[no] * 1.35) if late else hs[no])


def test_collateral_removed_is_a_step_with_no_stock_move(tmp_path: Path) -> None:
    honest = gen(tmp_path, "honest", onset_day=4)
    removed = gen(tmp_path, "collateral_removed", onset_day=4)  # Friday 2026-09-11
    at = datetime(2026, 9, 11, 10, 15, tzinfo=TZ).timestamp()
    hw = {parse_timestamp(r["timestamp"]): float(r["weight"]) for r in rows(honest / "pallet-scale.csv")}
    rw = {parse_timestamp(r["timestamp"]): float(r["weight"]) for r in rows(removed / "pallet-scale.csv")}
    assert all(abs(rw[t] - hw[t]) < 1e-9 for t in rw if t < at - 900)
    assert all(abs(hw[t] - rw[t] - 600) < 1e-6 for t in rw if t >= at)
    moves = rows(removed / "exports" / "wms-stock-moves" / "moves.csv")
    assert moves == rows(honest / "exports" / "wms-stock-moves" / "moves.csv")
    assert [m["时间"] for m in moves] == ["2026-09-09 10:15", "2026-09-09 15:15"]  # Wednesday's rotation
    # the rotation is in the weight too: 300 kg out between the two moves
    wed = datetime(2026, 9, 9, 12, tzinfo=TZ).timestamp()
    assert 1540 < hw[wed] < 1560


def test_offline_leaves_a_hole_in_every_device_while_the_mes_reports(tmp_path: Path) -> None:
    d = gen(tmp_path, "offline", onset_day=1, offline_days=2)
    lo = datetime(2026, 9, 8, tzinfo=TZ).timestamp()
    hi = datetime(2026, 9, 10, tzinfo=TZ).timestamp()
    for p in d.glob("*.csv"):
        ts = [parse_timestamp(r["timestamp"]) for r in rows(p)]
        assert not [t for t in ts if lo <= t < hi], p.name
        assert ts[0] < lo and ts[-1] >= hi
    assert {"2026-09-08", "2026-09-09"} <= set(mes_by_day(d))


def test_no_production_on_weekends_and_holidays_but_idle_load_every_day(tmp_path: Path) -> None:
    d = gen(tmp_path, "honest", start=date(2026, 9, 28), days=8)  # Mon 28 .. Mon 5 Oct; 1-7 Oct holidays
    kwh: dict[date, float] = {}
    per_day_cycles: dict[date, list[float]] = {}
    for r in rows(d / "press-1-plc.csv"):
        day = datetime.fromtimestamp(parse_timestamp(r["timestamp"]) - 1, TZ).date()
        per_day_cycles.setdefault(day, []).append(float(r["cycles"]))
    for r in rows(d / "press-1-meter.csv"):
        day = datetime.fromtimestamp(parse_timestamp(r["timestamp"]) - 1, TZ).date()
        kwh.setdefault(day, float(r["import_kwh"]))
    made = {day: v[-1] - v[0] for day, v in per_day_cycles.items()}
    working = {date(2026, 9, 28), date(2026, 9, 29), date(2026, 9, 30)}
    assert {day for day, n in made.items() if n > 0} == working
    days = sorted(kwh)
    assert all(kwh[b] > kwh[a] for a, b in zip(days, days[1:], strict=False))  # heaters, base load
    assert not (d / "exports" / "mes-production" / "production_20261001.csv").exists()


def test_what_it_writes_is_valid_replay_data_for_the_profile(tmp_path: Path) -> None:
    d = gen(tmp_path, "honest")
    prof = load_profile("sim-history")
    pts = asyncio.run(profile_points(prof, tmp_path / "state"))
    data = scan(d, {n: [p.name for p in ps] for n, ps in pts.items()}, [c["name"] for c in prof.connectors])
    assert set(data.devices) == {dev.name for dev in prof.devices}
    assert set(data.exports) == {"mes-production", "erp-orders", "erp-shipments", "wms-stock-moves"}
    assert {f.interval_s for f in data.devices.values()} == {900.0}


def test_generate_cli_refuses_a_non_empty_folder_and_an_unknown_scenario(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    proc = edgeproof("replay", "generate", "--scenario", "honest", "--out", str(tmp_path / "x"), check=False)
    assert proc.returncode == 1 and "is not empty" in proc.stderr
    proc = edgeproof("replay", "generate", "--scenario", "robbery", "--out", str(tmp_path / "y"), check=False)
    assert proc.returncode == 2 and "honest" in proc.stderr and not (tmp_path / "y").exists()


@pytest.mark.parametrize("name", ["honest", "offline"])
def test_generate_cli_writes_the_layout_and_the_truth(tmp_path: Path, name: str) -> None:
    proc = edgeproof("replay", "generate", "--scenario", name, "--days", "2", "--interval", "1800",
                     "--out", str(tmp_path / "out"))
    assert '"scenario": "' + name + '"' in proc.stdout
    assert (tmp_path / "out" / "scenario.json").exists() and (tmp_path / "out" / "press-1-meter.csv").exists()
