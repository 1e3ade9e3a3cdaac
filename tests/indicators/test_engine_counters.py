"""Counters through the real engine and store: waiting for the closing reading, a device gap
closed later (the gap's windows revised with their share), an outage caught up after restart."""

from __future__ import annotations

import json
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
windows = ["{window}"]
grace_s = {grace}
[[devices]]
name = "m"
driver = "modbus_tcp"
model = "eastron-sdm630"
host = "127.0.0.1"
poll_interval_s = {poll}
asset = "press"
"""
T0 = 1_764_230_400  # an hour boundary


class Site:
    def __init__(self, tmp_path: Path, window: str, poll: float, grace: float) -> None:
        (tmp_path / "p.toml").write_text(PROFILE.format(window=window, poll=poll, grace=grace))
        prof = load_profile(tmp_path / "p.toml")
        self.store = Store(tmp_path / "s.db", "NORMAL")
        self.engine = IndicatorEngine(self.store, prof, {"m": resolve_model(prof, prof.devices[0]).points})
        self.kwh = self.store.point("m", "import_kwh", "energy.total_kwh", "kWh").id
        self.length = self.engine.windows[0]
        self.store.meta_set(f"ind.wm.{self.length}", str(T0))

    def read(self, ts: float, kwh: float) -> None:
        self.store.add_readings([(ts, self.kwh, kwh, "good")], [(ts, "m", 1, None)])

    def energy(self) -> dict[int, dict]:
        with self.store._lock:
            rows = self.store.db.execute("SELECT window_start, value, quality, detail FROM indicators "
                                         "WHERE name='energy.kwh' ORDER BY window_start").fetchall()
        return {int(w - T0) // self.length: {"value": v, "quality": json.loads(q), "detail": json.loads(d)}
                for w, v, q, d in rows}


def test_an_hourly_counter_waits_for_the_closing_snapshot_and_books_the_hour_it_happened(tmp_path: Path) -> None:
    site = Site(tmp_path, "1h", 3600, 5)
    site.read(T0 - 3600, 990.0)
    site.read(T0, 1000.0)
    site.engine.run_once(now=T0 + 3600 + 5)  # the 01:00 snapshot is late: the window waits
    assert site.energy() == {}
    site.read(T0 + 3600, 1040.0)
    site.engine.run_once(now=T0 + 3600 + 30)
    e = site.energy()
    assert e[0]["value"] == pytest.approx(40.0) and e[0]["quality"] == []  # 00:00-01:00's, not 10 (the hour before)
    # A snapshot that never comes: after the wait (capped at an hour) the window is null, not 0
    site.engine.run_once(now=T0 + 2 * 3600 + 3600 + 5)
    e = site.energy()
    assert e[1]["value"] is None and e[1]["quality"] == ["no_data"]


def test_a_device_gap_is_null_first_then_revised_with_its_share_when_the_meter_reads_again(tmp_path: Path) -> None:
    site = Site(tmp_path, "15m", 60, 0)
    v = 100.0
    now = T0
    for minute in range(0, 121):  # 1 kWh a minute, read every minute, but not 30..74 (a dead link)
        ts = T0 + 60 * minute
        if not 30 <= minute < 75:
            site.read(ts, v)
        v += 1.0
        if ts - now >= 900:
            now = ts
            site.engine.run_once(now=now)
    e = site.energy()
    assert [e[k]["value"] for k in range(8)] == [pytest.approx(15.0)] * 8  # never 0, never a 45 kWh spike
    for k in (0, 5, 6, 7):
        assert "gap_interpolated" not in e[k]["quality"], (k, e[k])
    # minute 29 .. 75 is the gap: windows 2-4 fully interpolated, window 1 and 5 partly
    for k in (2, 3, 4):
        assert "gap_interpolated" in e[k]["quality"] and e[k]["detail"]["coverage"] == 0.0
    assert "gap_interpolated" in e[1]["quality"] and e[1]["detail"]["coverage"] == pytest.approx(14 / 15, 1e-3)
