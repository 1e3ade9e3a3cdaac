"""When the poller reads identity registers: after the first good read, after a recovery, daily; never
every poll; a failed identity read never makes the device unhealthy. Real emulator, driver, store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec
import pytest

from drivers.modbus_tcp import ModbusTcpDriver
from drivers.sim.modbus_server import ModbusEmulator, UnitState
from drivers.sim.scenarios import Scenario
from gateway.profile.load import find_model_file, load_model_file
from gateway.profile.schema import Device, Identity, IdentityReg
from gateway.scheduler import DevicePoller, ReadingWriter
from gateway.store import Store

SDM630 = load_model_file(find_model_file("eastron-sdm630"))  # type: ignore[arg-type]


def test_identity_is_read_at_start_and_daily_not_every_poll(tmp_path: Path) -> None:
    async def main() -> tuple[list[int], dict[str, str] | None]:
        emu = await ModbusEmulator({1: UnitState(SDM630, Scenario("press"), identity={"serial": 555, "model": 7})}
                                   ).start()
        store = Store(tmp_path / "s.db")
        drv = ModbusTcpDriver(Device(name="m", driver="modbus_tcp", model="eastron-sdm630", host="127.0.0.1",
                                     port=emu.port), SDM630, None, None)
        poller = DevicePoller(drv, store, ReadingWriter(store, 1.0))
        counts = []
        try:
            for _ in range(3):  # start: one identity request; then none
                assert await poller.poll_once()
                counts.append(emu.requests[1])
            poller.identity_interval_s = 0.0  # "a day later"
            emu.units[1].identity = {"serial": 556, "model": 7}
            assert await poller.poll_once()
            counts.append(emu.requests[1])
            return counts, poller.identity
        finally:
            await drv.close()
            await emu.stop()
            store.close()

    counts, ident = asyncio.run(main())
    assert counts == [2, 3, 4, 6]  # read + identity, read, read, read + identity
    assert ident == {"serial": "556", "model": "7"}


def test_a_failed_identity_read_leaves_the_device_healthy_and_is_retried(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    wrong = msgspec.structs.replace(SDM630, identity=Identity(serial=IdentityReg(address=0x9000)))

    async def main() -> tuple[str, bool, dict[str, str] | None, int]:
        emu = await ModbusEmulator({1: UnitState(SDM630, Scenario("press"))}).start()
        store = Store(tmp_path / "s.db")
        drv = ModbusTcpDriver(Device(name="m", driver="modbus_tcp", model="x", host="127.0.0.1", port=emu.port),
                              wrong, None, None)
        poller = DevicePoller(drv, store, ReadingWriter(store, 1.0))
        try:
            assert await poller.poll_once()
            assert await poller.poll_once()
            return poller.health.state, poller.identity_due, poller.identity, emu.requests[1]
        finally:
            await drv.close()
            await emu.stop()
            store.close()

    with caplog.at_level(logging.WARNING, logger="edgeproof.scheduler"):
        state, due, ident, requests = asyncio.run(main())
    assert state == "healthy" and due is True and ident is None
    assert requests == 2  # both reads answered (the identity requests got exception 2, not counted as served)
    tries = [r for r in caplog.records if r.getMessage().startswith("identity read failed")]
    assert len(tries) == 2 and "exception" in str(tries[0].__dict__.get("error"))  # retried on the next poll
