"""Gateway <-> emulated SDM630 through real pymodbus on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.sim.modbus_server import ModbusEmulator, UnitState
from drivers.sim.scenarios import Scenario
from drivers.support.base import Quality
from gateway.profile.load import find_model_file, load_model_file
from gateway.profile.schema import Device, Model
from gateway.runtime import load_driver_module
from gateway.scheduler import Scheduler
from gateway.store import Store

SDM630: Model = load_model_file(find_model_file("eastron-sdm630"))  # type: ignore[arg-type]


def device(port: int, **kw) -> Device:  # noqa: ANN003
    return Device(name=kw.pop("name", "m1"), driver="modbus_tcp", model="eastron-sdm630", host="127.0.0.1",
                  port=port, poll_interval_s=kw.pop("poll", 0.1), timeout_s=0.3, **kw)


async def poll_for(store: Store, devices: list[Device], seconds: float) -> Scheduler:
    mod = load_driver_module("modbus_tcp")
    sched = Scheduler([mod.DRIVER(d, SDM630, None, None) for d in devices], store, flush_interval_s=0.05)
    await sched.start()
    await asyncio.sleep(seconds)
    await sched.stop()
    return sched


def latest(store: Store, device: str) -> dict[str, tuple[float | None, str]]:
    rows = store.db.execute(
        "SELECT p.point, r.value, r.quality FROM readings r JOIN points p ON p.id = r.point_id "
        "WHERE p.device = ? ORDER BY r.ts", (device,)).fetchall()
    return {p: (v, q) for p, v, q in rows}


def test_values_decode_exactly_and_one_request_per_cycle(tmp_path: Path) -> None:
    pinned = {"energy.voltage_l1_v": 231.5, "energy.power_kw": 12.345, "energy.total_kwh": 123456.5,
              "energy.frequency_hz": 49.98}

    async def main() -> tuple[ModbusEmulator, Scheduler, Store]:
        emu = await ModbusEmulator({1: UnitState(SDM630, Scenario("press", overrides=pinned))}).start()
        store = Store(tmp_path / "s.db")
        sched = await poll_for(store, [device(emu.port)], 1.0)
        await emu.stop()
        return emu, sched, store

    emu, sched, store = asyncio.run(main())
    vals = latest(store, "m1")
    assert vals["voltage_l1"] == (pytest.approx(231.5), Quality.GOOD)
    assert vals["power_total"][0] == pytest.approx(12.345, rel=1e-6)  # W on the wire, kW after scale
    assert vals["import_kwh"][0] == pytest.approx(123456.5)
    assert vals["frequency"][0] == pytest.approx(49.98, rel=1e-6)
    polls = sched.pollers[0].health.polls
    assert polls >= 5
    # The whole 74-register map in one request per cycle, plus one for the identity registers (serial and
    # meter code, 0xFC00-0xFC02) read once at start.
    assert emu.requests[1] == polls + 1


def test_dead_meter_is_comm_error_never_a_constant(tmp_path: Path) -> None:
    async def main() -> tuple[Scheduler, Store]:
        emu = await ModbusEmulator({1: UnitState(SDM630, Scenario("press")),
                                    2: UnitState(SDM630, Scenario("press"), dead=True)}).start()
        store = Store(tmp_path / "s.db")
        sched = await poll_for(store, [device(emu.port, name="alive", unit_id=1),
                                       device(emu.port, name="dead", unit_id=2)], 1.5)
        await emu.stop()
        return sched, store

    sched, store = asyncio.run(main())
    alive, dead = sched.pollers
    assert alive.health.state == "healthy" and dead.health.state == "unhealthy"
    assert dead.errors["timeout"] >= 1
    qualities = {q for _v, q in latest(store, "dead").values()}
    assert qualities == {Quality.COMM_ERROR}
    assert all(v is None for v, _q in latest(store, "dead").values())
    # the dead unit backs off: far fewer attempts than the healthy one's polls
    assert dead.health.polls < alive.health.polls / 2
    assert alive.health.polls >= 10  # and it did not slow the healthy one down
    good, bad = store.polls("dead", 0, 2e9)
    # every finished attempt is stored as failed; an attempt still waiting for its timeout when the
    # scheduler stopped is counted in polls but has no outcome to store
    assert good == 0 and bad == dead.health.failures >= dead.health.polls - 1
    assert store.loss_counters()["polls_failed"] == bad


def test_out_of_range_is_stored_and_flagged(tmp_path: Path) -> None:
    async def main() -> Store:
        emu = await ModbusEmulator({1: UnitState(SDM630, Scenario("press", overrides={
            "energy.voltage_l1_v": 400.0, "energy.frequency_hz": 50.0}))}).start()
        store = Store(tmp_path / "s.db")
        await poll_for(store, [device(emu.port, ranges={"frequency": [49.5, 50.5]})], 0.5)
        await emu.stop()
        return store

    vals = latest(asyncio.run(main()), "m1")
    assert vals["voltage_l1"] == (pytest.approx(400.0), Quality.OUT_OF_RANGE)  # model range 0..300
    assert vals["frequency"][1] == Quality.GOOD


def test_meter_restart_recovers(tmp_path: Path) -> None:
    async def main() -> Scheduler:
        emu = await ModbusEmulator({1: UnitState(SDM630, Scenario("press"))}).start()
        port = emu.port
        store = Store(tmp_path / "s.db")
        mod = load_driver_module("modbus_tcp")
        sched = Scheduler([mod.DRIVER(device(port), SDM630, None, None)], store, 0.05)
        await sched.start()
        await asyncio.sleep(0.5)
        await emu.stop()
        await asyncio.sleep(0.8)
        assert sched.pollers[0].health.state == "unhealthy"
        emu2 = await ModbusEmulator({1: UnitState(SDM630, Scenario("press"))}, port=port).start()
        await asyncio.sleep(2.5)
        await sched.stop()
        await emu2.stop()
        return sched

    sched = asyncio.run(main())
    assert sched.pollers[0].health.state == "healthy"
    assert sched.pollers[0].health.failures >= 1
