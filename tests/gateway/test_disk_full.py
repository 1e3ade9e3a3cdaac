"""A full disk: polling goes on, the error is reported, readings wait and are committed later."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from drivers.sim.modbus_server import ModbusEmulator, UnitState
from drivers.sim.scenarios import Scenario
from gateway.scheduler import Scheduler
from gateway.store import Store
from tests.gateway.test_meter_polling import SDM630, device


def test_disk_full_keeps_readings_and_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[Scheduler, Store, int, int]:
        from drivers.modbus_tcp import DRIVER

        emu = await ModbusEmulator({1: UnitState(SDM630, Scenario("press"))}).start()
        store = Store(tmp_path / "s.db", "NORMAL")
        sched = Scheduler([DRIVER(device(emu.port), SDM630, None, None)], store, 0.05)
        await sched.start()
        await asyncio.sleep(0.5)
        # SQLite's own "database or disk is full" path: cap the file at its current size.
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count={pages}")
        stored_before = store.count("readings")
        await asyncio.sleep(1.5)
        during = store.count("readings")
        pending = len(sched.writer.rows)
        store.db.execute("PRAGMA max_page_count=1073741823")
        await asyncio.sleep(1.5)
        await sched.stop()
        await emu.stop()
        return sched, store, stored_before, during + pending

    with caplog.at_level(logging.ERROR, logger="edgeproof.scheduler"):
        sched, store, before, held = asyncio.run(main())
    errors = [str(getattr(r, "error", "")) for r in caplog.records]
    assert any("full" in e for e in errors), errors
    assert sched.pollers[0].health.state == "healthy"  # polling never stopped
    assert held > before  # readings taken during the outage were held, not dropped
    assert store.count("readings") >= held
    assert sched.writer.rows == [] and sched.writer.dropped == 0
