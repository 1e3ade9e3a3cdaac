"""Modbus RTU over a real socat pty pair: pymodbus's RTU server on one end, the driver
(pymodbus serial client over pyserial) on the other, several units on one line."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

from drivers.modbus_rtu import ModbusRtuDriver
from drivers.sim.modbus_server import ModbusEmulator, UnitState
from drivers.sim.scenarios import Scenario
from drivers.support.base import DriverError
from drivers.support.bus import BusHandle
from gateway.profile.schema import Bus, Device, Model, PointDef
from gateway.scheduler import Scheduler
from gateway.store import Store
from tests.drivers.conftest import model

DDSU = model("chint-ddsu666")
MD02 = model("xy-md02")
DTSU = model("chint-dtsu666")
TIMEOUT = 0.2


def line(port: str) -> BusHandle:
    return BusHandle(Bus(name="rs485", kind="serial", port=port, baudrate=9600, parity="N", timeout_s=TIMEOUT))


def rtu(bus: BusHandle, unit: int, m: Model, **kw: Any) -> ModbusRtuDriver:
    dev = Device(name=kw.pop("name", f"u{unit}"), driver="modbus_rtu", model=m.name, bus="rs485", unit_id=unit,
                 timeout_s=TIMEOUT, **kw)
    return ModbusRtuDriver(dev, m, bus, bus.cfg)


async def serve(pty: str, units: dict[int, UnitState]) -> ModbusEmulator:
    return await ModbusEmulator(units, framer="rtu", serial_port=pty).start()


PINNED = {"energy.voltage_l1_v": 229.5, "energy.current_l1_a": 12.25, "energy.power_kw": 2.75,
          "energy.frequency_hz": 50.02, "energy.total_kwh": 4321.5, "env.temp_c": -5.3, "env.rh_pct": 61.2}


def test_two_units_share_one_pty_line(pty_pair: tuple[str, str]) -> None:
    server_end, client_end = pty_pair

    async def main() -> tuple[dict[str, float], dict[str, float], ModbusEmulator, BusHandle]:
        emu = await serve(server_end, {1: UnitState(DDSU, Scenario("press", overrides=PINNED)),
                                       10: UnitState(MD02, Scenario("climate", overrides=PINNED))})
        bus = line(client_end)
        meter, climate = rtu(bus, 1, DDSU), rtu(bus, 10, MD02)
        try:
            # concurrent polls: the bus lock serialises them on the line
            r1, r2 = await asyncio.gather(meter.timed_read(), climate.timed_read())
            r1, r2 = await asyncio.gather(meter.timed_read(), climate.timed_read())
        finally:
            await meter.close()
            await climate.close()
            await emu.stop()
        return r1.values, r2.values, emu, bus

    meter, climate, emu, bus = asyncio.run(main())
    assert meter["voltage"] == pytest.approx(229.5)
    assert meter["import_kwh"] == pytest.approx(4321.5)
    assert meter["power"] == pytest.approx(2.75)
    assert climate == {"temperature": pytest.approx(-5.3), "humidity": pytest.approx(61.2)}
    assert emu.requests[1] == 4 and emu.requests[10] == 2  # DDSU666: 2 requests per poll
    assert bus.stats["requests"] == 6 and bus.lock.locked() is False


def test_dead_unit_costs_one_timeout_not_one_per_request(pty_pair: tuple[str, str]) -> None:
    server_end, client_end = pty_pair

    async def main() -> tuple[float, DriverError, list[float], ModbusRtuDriver]:
        emu = await serve(server_end, {1: UnitState(DDSU, Scenario("press")),
                                       3: UnitState(DTSU, Scenario("press"), dead=True)})
        bus = line(client_end)
        alive, dead = rtu(bus, 1, DDSU), rtu(bus, 3, DTSU)
        try:
            await alive.timed_read()
            t0 = time.perf_counter()
            with pytest.raises(DriverError) as info:
                await dead.timed_read()  # DTSU666: 3 planned requests
            dead_s = time.perf_counter() - t0
            after = []
            for _ in range(3):  # the line is clean afterwards: no stale bytes, normal latency
                t1 = time.perf_counter()
                await alive.timed_read()
                after.append(time.perf_counter() - t1)
        finally:
            await alive.close()
            await dead.close()
            await emu.stop()
        return dead_s, info.value, after, dead

    dead_s, err, after, dead = asyncio.run(main())
    assert err.kind == "timeout"
    assert TIMEOUT * 0.9 <= dead_s < TIMEOUT * 2  # one timeout, not three
    assert dead.errors == {"timeout": 1}
    assert max(after) < TIMEOUT * 0.75  # well under one more timeout, with room for a busy CI machine


def test_dead_unit_on_shared_line_under_the_scheduler(pty_pair: tuple[str, str], tmp_path: Any) -> None:
    """Per cycle, the healthy units lose at most one timeout to the dead one; it backs off."""
    server_end, client_end = pty_pair

    async def main() -> Scheduler:
        emu = await serve(server_end, {1: UnitState(DDSU, Scenario("press")), 10: UnitState(MD02, Scenario("climate")),
                                       3: UnitState(DTSU, Scenario("press"), dead=True)})
        bus = line(client_end)
        # the dead unit (3 planned requests) is started first, so it holds the line when the
        # healthy units' first polls come due
        drivers = [rtu(bus, 3, DTSU, poll_interval_s=0.5), rtu(bus, 1, DDSU, poll_interval_s=0.5),
                   rtu(bus, 10, MD02, poll_interval_s=0.5)]
        sched = Scheduler(drivers, Store(tmp_path / "s.db"), flush_interval_s=0.1)
        await sched.start()
        await asyncio.sleep(4.0)
        await sched.stop()
        await emu.stop()
        return sched

    sched = asyncio.run(main())
    dead, alive1, alive2 = sched.pollers
    for p in (alive1, alive2):
        assert p.health.state == "healthy" and p.health.failures == 0
        assert p.health.polls >= 7  # nominal 8 in 4 s at 0.5 s
        # they waited for the dead unit once, for one timeout (not three: it stops at its first request)
        assert TIMEOUT * 0.8 < max(p.health.latencies) < TIMEOUT + 0.15
        assert sorted(p.health.latencies)[len(p.health.latencies) // 2] < TIMEOUT / 2  # otherwise unaffected
    assert dead.health.state == "unhealthy" and dead.health.breaker_open
    assert dead.health.polls <= 4  # backoff 0.5, 1, 2 s: not every cycle
    assert set(dead.health.errors) == {"timeout"}
    # every attempt timed out (the last may have been cut short by the stop)
    assert dead.health.polls - 1 <= dead.health.errors["timeout"] <= dead.health.polls


@pytest.mark.parametrize("fault, kind", [("corrupt_crc", "crc"), ("short_frame", "short_frame")])
def test_corrupted_frames_are_counted_by_kind(pty_pair: tuple[str, str], fault: str, kind: str) -> None:
    server_end, client_end = pty_pair

    async def main() -> tuple[list[str], ModbusRtuDriver, dict[str, float]]:
        noisy = UnitState(MD02, Scenario("climate"))
        setattr(noisy, fault, True)
        emu = await serve(server_end, {10: noisy, 11: UnitState(MD02, Scenario("climate", overrides=PINNED))})
        bus = line(client_end)
        bad, good = rtu(bus, 10, MD02), rtu(bus, 11, MD02)
        kinds = []
        try:
            for _ in range(3):
                try:
                    await bad.timed_read()
                except DriverError as exc:
                    kinds.append(exc.kind)
            ok = await good.timed_read()
        finally:
            await bad.close()
            await good.close()
            await emu.stop()
        return kinds, bad, ok.values

    kinds, bad, ok = asyncio.run(main())
    assert kinds == [kind] * 3  # never a number from a corrupted frame
    assert bad.errors == {kind: 3}
    assert ok["temperature"] == pytest.approx(-5.3)  # the line recovered for the next unit


def test_modbus_exception_is_counted(pty_pair: tuple[str, str]) -> None:
    server_end, client_end = pty_pair
    # the installer's map asks for a register the unit does not have
    wrong = msgspec.structs.replace(MD02, points=[*MD02.points, PointDef(
        name="extra", meaning="env.dew_point_c", address=0x200, type="int16")])

    async def main() -> tuple[DriverError, ModbusRtuDriver]:
        emu = await serve(server_end, {1: UnitState(MD02, Scenario("climate"))})
        bus = line(client_end)
        drv = rtu(bus, 1, wrong)
        try:
            with pytest.raises(DriverError) as info:
                await drv.timed_read()
        finally:
            await drv.close()
            await emu.stop()
        return info.value, drv

    err, drv = asyncio.run(main())
    assert err.kind == "exception" and "exception 2" in err.message
    assert drv.errors == {"exception": 1}
