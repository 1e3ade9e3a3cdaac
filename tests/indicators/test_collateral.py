"""Collateral indicators: drift against the pledge, unexplained steps matched against ERP
stock movements, geofence, tamper signals."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from gateway.connectors.config import load_connectors
from gateway.connectors.importer import Importer
from gateway.indicators.base import DeviceWindow
from gateway.indicators.collateral import Pledge, unexplained
from gateway.indicators.load_steps import StepParams, detect, noise_sd, threshold_kg
from gateway.profile import ProfileError
from gateway.store import Store
from tests.fixtures.erp.make_fixtures import write_csv
from tests.indicators.helpers import ctx, one, profile, series

PLEDGE = {"pledges": [{"asset": "pallets", "baseline_kg": 1850.0, "tolerance_pct": 2.0, "match_window_s": 3600,
                       "hold_s": 120, "block_s": 5}]}
T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


def _level(at: float, until: float, kg: float, every: float = 5.0) -> list[tuple[float, float]]:
    """Readings every 5 s with a +-1 kg wobble (the scale's noise)."""
    n = int((until - at) / every)
    return [(at + i * every, kg + (1.0 if i % 3 == 0 else -1.0 if i % 3 == 1 else 0.0)) for i in range(n)]


def _weights() -> object:
    # settled 1850; a 302 kg step down at +100 s (matches an ERP out-move of 300 kg) held; a 68 kg
    # step down at +300 s that nothing explains, held to the end of the window.
    return series(_level(T0, T0 + 100, 1850.0) + _level(T0 + 100, T0 + 300, 1548.0)
                  + _level(T0 + 300, T0 + 600, 1480.0))


def test_held_steps_transients_and_drift_are_told_apart() -> None:
    p = StepParams(hold_s=120, block_s=5)
    pts = (_level(T0, T0 + 300, 1850.0) + _level(T0 + 300, T0 + 400, 1850.0 + 300)  # a forklift for 100 s
           + _level(T0 + 400, T0 + 500, 1850.0) + _level(T0 + 500, T0 + 900, 1550.0))  # 300 kg leave, held
    sd = noise_sd(pts)
    assert 0.5 < sd < 1.5  # the +-1 kg wobble, not the steps
    thr = threshold_kg(sd, 1850.0, p)
    assert thr == 18.5  # 1 % of the pledge is above 8 x the noise here
    steps, trans, level = detect(pts, thr, p)
    assert [(s.t, s.confirmed, round(s.kg)) for s in steps] == [(T0 + 500, T0 + 620, -300)]
    assert [(t.t, t.back, round(t.max_kg)) for t in trans] == [(T0 + 300, T0 + 400, 301)]
    assert level is not None and abs(level - 1550) < 2
    # Slow drift of 5 % over the span (0.6 kg per reading) is followed, never a step.
    slow = [(T0 + 5 * i, 1850.0 - 0.6 * i + (1.0 if i % 2 else -1.0)) for i in range(160)]
    assert detect(slow, threshold_kg(noise_sd(slow), 1850.0, p), p)[:2] == ([], [])
    # A noisy scale raises the threshold with its noise.
    noisy = [(T0 + 5 * i, 1850.0 + (30.0 if i % 2 else -30.0)) for i in range(100)]
    assert threshold_kg(noise_sd(noisy), 1850.0, p) > 8 * 30


def test_matching_steps_with_stock_moves() -> None:
    p = msgspec.convert(PLEDGE["pledges"][0], Pledge)
    steps = [(T0 + 10, -302.0), (T0 + 200, -68.0)]
    moves = [{"direction": "out", "qty_kg": 300.0, "_ts": T0 + 600}, {"direction": "in", "qty_kg": 68.0, "_ts": T0}]
    assert unexplained(steps, moves, p, 18.5) == [(T0 + 200, -68.0)]  # an in-move does not explain a drop


def test_unexplained_change_and_drift_with_erp_stock_moves(store: Store, importer: Importer, tmp_path: Path) -> None:
    drop = tmp_path / "gw" / "moves"
    # 2026-09-21 22:23:20 Asia/Shanghai = T0 + 600 s: the ERP records 300 kg leaving this stack.
    write_csv(drop / "moves.csv", ["单号", "时间", "方向", "重量", "库位"],
              [["MV-1", "2026-09-21 22:23:20", "出库", 300, "pallets"],
               ["MV-2", "2026-09-21 22:23:20", "出库", 68, "other-stack"]])
    cfg = load_connectors([{"name": "wms", "kind": "folder", "dataset": "stock_moves", "path": "moves",
                            "columns": {"move_no": "单号", "time": "时间", "direction": "方向", "qty_kg": "重量",
                                        "asset": "库位"}}])[0]
    [rep] = importer.run(cfg, tmp_path / "gw")
    assert rep.rows_ok == 2
    prof = profile(collateral=PLEDGE)
    c = ctx(T0, 600, poll_s=5, asset="pallets", profile=prof, store=store,
            devices=[DeviceWindow("scale", 5.0, 120, 6, 0, 1)], collateral__weight_kg=_weights())
    v = one("collateral.unexplained_changes", c)
    assert v.value == 1.0 and v.quality == ["unexplained_change"]  # MV-2 belongs to another stack
    assert (v.detail["steps"], v.detail["unexplained_kg"], v.detail["unexplained_out"], v.detail["threshold_kg"]) \
        == (2, -68.0, 1, 18.5)
    assert one("collateral.transient_loads", c).value == 0.0
    last = one("collateral.weight_kg", c).value
    assert abs(last - 1480.0) <= 1.0
    d = one("collateral.drift_pct", c)
    assert d.value == round(100 * (last - 1850) / 1850, 4) and d.quality == ["beyond_tolerance"]


def test_a_forklift_resting_on_the_stack_is_a_transient_not_two_steps() -> None:
    w = series(_level(T0, T0 + 200, 1850.0) + _level(T0 + 200, T0 + 290, 1850.0 + 2900) + _level(T0 + 290, T0 + 600,
                                                                                                1850.0))
    c = ctx(T0, 600, poll_s=5, asset="pallets", profile=profile(collateral=PLEDGE), collateral__weight_kg=w)
    v = one("collateral.unexplained_changes", c)
    assert (v.value, v.detail["steps"], v.quality) == (0.0, 0, [])
    t = one("collateral.transient_loads", c)
    assert (t.value, t.quality, t.detail["max_kg"]) == (1.0, ["transient_load"], 2901.0)
    assert t.detail["minutes"] == 1.5
    empty = ctx(T0, 600, poll_s=5, asset="pallets", profile=profile(collateral=PLEDGE),
                collateral__weight_kg=series([]))
    assert one("collateral.unexplained_changes", empty).quality == ["no_data"]
    assert one("collateral.transient_loads", empty).value is None


def test_geofence_state_exits_and_tamper() -> None:
    inside = series([(0, 1.0), (5, 1.0), (10, 0.0)])
    exits = series([(0, 3.0), (10, 4.0)], before=(-5, 3.0), counter=True)
    c = ctx(0, 600, poll_s=5, collateral__inside_geofence=inside, collateral__geofence_exits=exits)
    g = one("collateral.inside_geofence", c)
    assert g.value == 0.0 and g.quality == ["partial_coverage", "outside"]  # 25 s of 600 s observed
    assert g.detail["coverage"] == round(25 / 600, 4) or abs(g.detail["coverage"] - 25 / 600) < 1e-3
    assert g.detail["inside_pct"] == 40.0  # inside 10 s of the 25 s observed (last reading holds 15 s)
    assert one("collateral.geofence_exits", c).value == 1.0
    w = series([(t, 1000.0) for t in range(0, 30, 5)] + [(30, 99999.0, "out_of_range"), (35, 1000.0, "stale"),
                                                          (40, -3.0)])
    c = ctx(0, 600, poll_s=5, collateral__weight_kg=w)
    off = one("collateral.offline_min", c)
    # usable readings at 0..25, 35, 40 (the out-of-range one at 30 is not usable); the one at 25
    # holds until 35 (under the 15 s cap), the last one 15 s: covered 0-55
    assert off.value == round((600 - 55) / 60, 4) and off.quality == ["tamper_suspect"]
    assert one("collateral.implausible_readings", c).value == 3.0  # out of range, stale, negative


def test_collateral_section_errors_name_the_key() -> None:
    from gateway.indicators.collateral import load_collateral, load_collateral_cfg

    with pytest.raises(ProfileError, match=r"collateral.pledges\[0\].baseline_kg"):
        load_collateral({"pledges": [{"asset": "x", "baseline_kg": -1}]})
    with pytest.raises(ProfileError, match="collateral.storage.room.temp_c"):
        load_collateral_cfg({"storage": {"room": {"temp_c": [30, 5]}}})
    with pytest.raises(ProfileError, match=r"collateral.pledges\[0\].step_pct"):
        load_collateral({"pledges": [{"asset": "x", "baseline_kg": 10, "step_pct": 0}]})
