"""sim-factory on its emulated twins under the real scheduler: every driver kind polls
healthy through its protocol stack, and the values are the workshop's, not zeros."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.profile.load import load_profile
from gateway.runtime import build_drivers
from gateway.scheduler import Scheduler
from gateway.store import Store


def test_every_twin_polls_healthy(tmp_path: Path) -> None:
    profile = load_profile("sim-factory")

    async def main() -> tuple[Scheduler, Store]:
        drivers, _buses, stoppers, _emus = await build_drivers(profile, simulate=True)
        store = Store(tmp_path / "s.db")
        sched = Scheduler(drivers, store, 0.1)
        await sched.start()
        await asyncio.sleep(6.0)
        await sched.stop()
        for stop in stoppers:
            await stop()
        return sched, store

    sched, store = asyncio.run(main())
    ours = {"modbus_tcp", "modbus_rtu", "sht31d", "bme280", "aht20", "pulse", "digital_in", "hx711", "gnss"}
    assert {p.driver.kind for p in sched.pollers} >= ours  # other sources (cameras) may share the profile
    for p in (p for p in sched.pollers if p.driver.kind in ours):
        assert p.health.state == "healthy" and p.health.failures == 0, (p.device.name, p.health.last_error)
        assert p.errors == {} or set(p.errors) <= {"crc_recovered"}, (p.device.name, dict(p.errors))
    last = {(p.device.name, name): v for p in sched.pollers for name, (v, _q) in p.health.last_values.items()}
    assert 1840 < last[("pallet-scale", "weight")] < 1860
    assert last[("pallet-gnss", "inside_geofence")] == 1.0
    assert 6.0 < last[("air-pressure", "pressure")] < 8.0
    assert last[("water-meter", "total")] >= 530.0
    assert 15 < last[("warehouse-climate", "temperature")] < 30
    assert 900 < last[("electrical-room-climate", "pressure")] < 1100
    good = store.db.execute("SELECT COUNT(*) FROM readings WHERE quality = 'good'").fetchone()[0]
    assert good > 100
