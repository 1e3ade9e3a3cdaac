"""Quality and counters on the store side, through the real scheduler, store and RTU stack:
out-of-range stored and flagged, stuck values flagged stale, counter rollover and meter
replacement stored as read (the indicator side decides what they mean)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from drivers.modbus_rtu import ModbusRtuDriver
from drivers.sim.modbus_server import ModbusEmulator, UnitState
from drivers.sim.scenarios import Scenario
from drivers.support.base import Quality
from drivers.support.bus import BusHandle
from gateway.indicators.base import Series
from gateway.indicators.counters import counter_delta
from gateway.profile.schema import Bus, Device, Model, PointDef
from gateway.quality import PointQuality
from gateway.scheduler import Scheduler
from gateway.store import Store
from tests.drivers.conftest import model

MD02 = model("xy-md02")
# A water meter on Modbus: a 16-bit pulse register that wraps at 65536 (10 L per count).
WATER = Model(name="water-16", points=[PointDef(name="volume", meaning="water.total_m3", address=0, type="uint16",
                                                table="holding", scale=0.01, unit="m3", counter=True,
                                                rollover=655.36)])


def run(units: dict[int, UnitState], devices: list[tuple[Device, Model]], tmp_path: Path,
        steps: list[tuple[float, dict[int, dict[str, float]]]]) -> Store:
    """Poll over an RTU-over-TCP emulated line while ``steps`` change the units' values."""

    async def main() -> Store:
        emu = await ModbusEmulator(units, framer="rtu").start()
        bus = BusHandle(Bus(name="l", kind="serial", port=f"socket://127.0.0.1:{emu.port}", timeout_s=0.3))
        store = Store(tmp_path / "s.db")
        sched = Scheduler([ModbusRtuDriver(d, m, bus, bus.cfg) for d, m in devices], store, 0.05)
        await sched.start()
        for wait, changes in steps:
            for unit, values in changes.items():
                units[unit].scenario.overrides.update(values)
            await asyncio.sleep(wait)
        await sched.stop()
        await emu.stop()
        return store

    return asyncio.run(main())


def rows(store: Store, device: str, point: str) -> list[tuple[float, float | None, str]]:
    pid = store.point(device, point, *store.db.execute(
        "SELECT meaning, unit FROM points WHERE device=? AND point=?", (device, point)).fetchone()).id
    return store.readings(pid, 0, 2e9)


def test_out_of_range_and_stuck_values_are_stored_flagged(tmp_path: Path) -> None:
    stuck_model = msgspec.structs.replace(MD02, points=[
        msgspec.structs.replace(MD02.points[0], stuck_after_s=0.5), MD02.points[1]])
    units = {1: UnitState(stuck_model, Scenario("climate", overrides={"env.temp_c": 21.5, "env.rh_pct": 50.0}))}
    dev = Device(name="climate", driver="modbus_rtu", bus="l", unit_id=1, poll_interval_s=0.1, timeout_s=0.3)
    store = run(units, [(dev, stuck_model)], tmp_path, [
        (1.2, {}),                                   # temperature frozen at 21.5: stale after 0.5 s
        (0.5, {1: {"env.rh_pct": 104.0}}),            # humidity 104 %: out of range, still stored
    ])
    temps = rows(store, "climate", "temperature")
    hums = rows(store, "climate", "humidity")
    assert temps[0][2] == Quality.GOOD and temps[-1][2] == Quality.STALE
    assert all(v == pytest.approx(21.5) for _, v, _ in temps)  # stale values are kept, not dropped
    flagged = [(v, q) for _, v, q in hums if q == Quality.OUT_OF_RANGE]
    assert flagged and all(v == pytest.approx(104.0) for v, _ in flagged)
    assert len(hums) == len(temps)  # nothing dropped


def test_counter_rollover_and_meter_replacement(tmp_path: Path) -> None:
    units = {5: UnitState(WATER, Scenario("water", overrides={"water.total_m3": 655.0}))}
    dev = Device(name="water", driver="modbus_rtu", bus="l", unit_id=5, poll_interval_s=0.1, timeout_s=0.3)
    store = run(units, [(dev, WATER)], tmp_path, [
        (0.4, {}),
        (0.4, {5: {"water.total_m3": 655.3}}),
        (0.4, {5: {"water.total_m3": 0.2}}),    # the 16-bit register wrapped: 655.36 -> 0
        (0.4, {5: {"water.total_m3": 1.0}}),
    ])
    data = rows(store, "water", "volume")
    values = [v for _, v, _ in data]
    assert {q for _, _, q in data} == {Quality.GOOD}  # a wrap is a real reading: stored, not flagged
    assert min(values) == pytest.approx(0.2) and max(values) == pytest.approx(655.3)
    series = Series(ts=[t for t, _, _ in data], values=values, quality=[q for _, _, q in data],
                    counter=True, rollover=655.36)
    used, flags = counter_delta(series)
    assert used == pytest.approx(655.36 - 655.0 + 1.0, abs=1e-6) and flags == ["rollover"]

    # the same drop without a declared rollover is a meter replacement: nothing claimed, flagged
    replaced = Series(ts=series.ts, values=series.values, quality=series.quality, counter=True)
    used, flags = counter_delta(replaced)
    assert used == pytest.approx(0.3 + 0.8, abs=1e-6) and flags == ["counter_reset"]


def test_quality_classifier_edges() -> None:
    q = PointQuality(PointDef(name="t", meaning="env.temp_c", range=[-40, 80], stuck_after_s=10))
    assert q.classify(0, float("nan")) == Quality.OUT_OF_RANGE
    assert q.classify(0, float("inf")) == Quality.OUT_OF_RANGE
    assert q.classify(0, 80.0) == Quality.GOOD and q.classify(1, 80.01) == Quality.OUT_OF_RANGE
    assert q.classify(5, 20.0) == Quality.GOOD and q.classify(15, 20.0) == Quality.GOOD
    assert q.classify(15.1, 20.0) == Quality.STALE and q.classify(16, 20.1) == Quality.GOOD
