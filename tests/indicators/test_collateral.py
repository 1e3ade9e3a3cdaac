"""Collateral indicators: drift against the pledge, unexplained steps matched against ERP
stock movements, geofence, tamper signals."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from gateway.connectors.config import load_connectors
from gateway.connectors.importer import Importer
from gateway.indicators.base import DeviceWindow
from gateway.indicators.collateral import Pledge, unexplained, weight_steps
from gateway.profile import ProfileError
from gateway.store import Store
from tests.fixtures.erp.make_fixtures import write_csv
from tests.indicators.helpers import ctx, one, profile, series

PLEDGE = {"pledges": [{"asset": "pallets", "baseline_kg": 1850.0, "tolerance_pct": 2.0, "change_threshold_kg": 50.0,
                       "match_window_s": 3600}]}
T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


def _weights() -> object:
    # settled 1850; a 302 kg step down at +10 s (matches an ERP out-move of 300 kg); a 68 kg step
    # down at +20 s that nothing explains; small wobble otherwise.
    return series([(T0, 1850.0), (T0 + 5, 1849.0), (T0 + 10, 1548.0), (T0 + 15, 1550.0), (T0 + 20, 1480.0),
                   (T0 + 25, 1481.0)])


def test_weight_steps_and_matching() -> None:
    steps = weight_steps(_weights(), (T0 - 5, 1850.0), 50.0)
    assert steps == [(T0 + 10, -302.0), (T0 + 20, -68.0)]
    p = msgspec.convert(PLEDGE["pledges"][0], Pledge)
    moves = [{"direction": "out", "qty_kg": 300.0, "_ts": T0 + 600}, {"direction": "in", "qty_kg": 68.0, "_ts": T0}]
    assert unexplained(steps, moves, p) == [(T0 + 20, -68.0)]  # an in-move does not explain a drop


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
    assert v.value == 1.0 and v.detail == {"steps": 2, "unexplained_kg": -68.0}
    assert v.quality == ["unexplained_change"]  # MV-2 belongs to another stack
    d = one("collateral.drift_pct", c)
    assert d.value == round(100 * (1481 - 1850) / 1850, 4) and d.quality == ["beyond_tolerance"]
    assert one("collateral.weight_kg", c).value == 1481.0


def test_geofence_state_exits_and_tamper() -> None:
    inside = series([(0, 1.0), (5, 1.0), (10, 0.0)])
    exits = series([(0, 3.0), (10, 4.0)], before=(-5, 3.0), counter=True)
    c = ctx(0, 600, poll_s=5, collateral__inside_geofence=inside, collateral__geofence_exits=exits)
    g = one("collateral.inside_geofence", c)
    assert g.value == 0.0 and g.quality == ["outside"]
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
