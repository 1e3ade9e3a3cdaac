"""The first indicator set through the real engine and store, against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.indicators.engine import IndicatorEngine
from gateway.profile import load_profile
from gateway.profile.load import resolve_model
from gateway.store import Store

PROFILE = """
[site]
id = "t"
[indicators]
windows = ["15m"]
grace_s = 0
[[devices]]
name = "m"
driver = "modbus_tcp"
model = "eastron-sdm630"
host = "127.0.0.1"
poll_interval_s = 60
asset = "press"
params = { on_threshold_kw = 5.0 }
"""
T0 = 1_764_230_400  # a 15-minute boundary


def engine(tmp_path: Path, kwh: list[tuple[float, float | None, str]], kw: list[tuple[float, float | None, str]],
           polls: list[tuple[float, int]] | None = None, rollover: float | None = None):  # noqa: ANN202
    (tmp_path / "p.toml").write_text(PROFILE)
    prof = load_profile(tmp_path / "p.toml")
    model = resolve_model(prof, prof.devices[0])
    if rollover is not None:
        import msgspec

        model = msgspec.structs.replace(model, points=[
            msgspec.structs.replace(p, rollover=rollover) if p.name == "import_kwh" else p for p in model.points])
    store = Store(tmp_path / "s.db", "NORMAL")
    e = IndicatorEngine(store, prof, {"m": model.points})
    pk = store.point("m", "import_kwh", "energy.total_kwh", "kWh").id
    pp = store.point("m", "power_total", "energy.power_kw", "kW").id
    store.add_readings([(t, pk, v, q) for t, v, q in kwh] + [(t, pp, v, q) for t, v, q in kw],
                       [(t, "m", ok, None if ok else "timeout") for t, ok in (polls or [])])
    store.meta_set("ind.wm.900", str(T0))
    e.run_once(now=T0 + 900 + 1)
    rows = {r["name"] + ("@" + r["subject"] if r["subject"] != "press" else ""): r
            for r in store.recent_indicators(100)}
    return rows


def test_energy_avg_peak_on_minutes(tmp_path: Path) -> None:
    # counter, read every minute: 100 before the window, 101 at its start, 107 at its end -> 6 kWh
    # (the reading at the end closes the window's last minute; the minute before it is not its)
    kwh = [(T0 - 60, 100.0, "good")] + [(T0 + 60 * i, 101.0 + 0.4 * i, "good") for i in range(16)]
    # power: 10 kW for 300 s, 2 kW for 300 s, 20 kW for the last 300 s (gaps <= 3 polls of 60 s)
    kw = [(T0, 10.0, "good"), (T0 + 120, 10.0, "good"), (T0 + 240, 10.0, "good"),
          (T0 + 300, 2.0, "good"), (T0 + 420, 2.0, "good"), (T0 + 540, 2.0, "good"),
          (T0 + 600, 20.0, "good"), (T0 + 720, 20.0, "good"), (T0 + 840, 20.0, "good")]
    polls = [(T0 + 60 * i, 1) for i in range(16)]  # (the poll at the end closes the counter's last minute)
    r = engine(tmp_path, kwh, kw, polls)
    assert r["energy.kwh"]["value"] == pytest.approx(6.0)
    assert r["energy.avg_kw"]["value"] == pytest.approx((10 * 300 + 2 * 300 + 20 * 300) / 900)
    assert r["energy.peak_kw"]["value"] == 20.0
    assert r["machine.on_minutes"]["value"] == pytest.approx(10.0)  # 600 s above 5 kW
    assert r["machine.utilisation_pct"]["value"] == pytest.approx(100 * 600 / 900)
    assert r["data.coverage_pct@m"]["value"] == pytest.approx(100.0)
    assert r["energy.kwh"]["quality"] == "[]"


def test_meter_reset_never_counts_negative_or_made_up_energy(tmp_path: Path) -> None:
    kwh = [(T0 + 10, 500.0, "good"), (T0 + 100, 502.0, "good"), (T0 + 200, 0.5, "good"), (T0 + 300, 1.5, "good")]
    r = engine(tmp_path, kwh, [])
    assert r["energy.kwh"]["value"] == pytest.approx(3.0)  # 2 before the reset, 1 after it
    assert "counter_reset" in r["energy.kwh"]["quality"]


def test_rollover_counts_the_wrap(tmp_path: Path) -> None:
    kwh = [(T0 + 10, 99_998.0, "good"), (T0 + 100, 99_999.5, "good"), (T0 + 200, 1.0, "good")]
    r = engine(tmp_path, kwh, [], rollover=100_000.0)
    assert r["energy.kwh"]["value"] == pytest.approx(3.0)
    assert "rollover" in r["energy.kwh"]["quality"]


def test_comm_errors_and_gaps_lower_coverage_and_are_not_energy(tmp_path: Path) -> None:
    kwh = [(T0 + 10, 10.0, "good"), (T0 + 70, None, "comm_error"), (T0 + 130, 9999.0, "out_of_range"),
           (T0 + 190, 11.0, "good")]
    polls = [(T0 + 10, 1), (T0 + 70, 0), (T0 + 130, 1), (T0 + 190, 1)]
    r = engine(tmp_path, kwh, [(T0 + 10, 8.0, "good")], polls)
    assert r["energy.kwh"]["value"] == pytest.approx(1.0)
    assert r["data.coverage_pct@m"]["value"] == pytest.approx(100 * 3 / 15)
    assert "low_coverage" in r["data.coverage_pct@m"]["quality"]
    assert "partial_coverage" in r["machine.on_minutes"]["quality"]  # 180 s observed of 900


def test_implausible_jump_is_flagged_not_counted(tmp_path: Path) -> None:
    kwh = [(T0 + 10, 10.0, "good"), (T0 + 20, 5000.0, "good"), (T0 + 80, 5001.0, "good")]
    r = engine(tmp_path, kwh, [])
    assert r["energy.kwh"]["value"] == pytest.approx(1.0)
    assert "implausible_jump" in r["energy.kwh"]["quality"]


def test_recompute_is_idempotent(tmp_path: Path) -> None:
    kwh = [(T0 + 10, 10.0, "good"), (T0 + 100, 12.0, "good")]
    engine(tmp_path, kwh, [])
    store = Store(tmp_path / "s.db", "NORMAL")
    n = store.count("indicators")
    store.meta_set("ind.wm.900", str(T0))
    (tmp_path / "p.toml").write_text(PROFILE)
    prof = load_profile(tmp_path / "p.toml")
    IndicatorEngine(store, prof, {"m": resolve_model(prof, prof.devices[0]).points}).run_once(now=T0 + 901)
    assert store.count("indicators") == n
