"""Coalescing: the installer writes points, the driver plans as few requests as the protocol
allows. Counted at the emulator (what really crossed the wire), not at the planner."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from drivers.modbus.coalesce import plan
from drivers.sim.modbus_server import ModbusEmulator, UnitState
from drivers.sim.scenarios import Scenario
from gateway.profile.schema import Device, Model, PointDef
from gateway.runtime import load_driver_module
from tests.drivers.conftest import model


def served_requests(m: Model, reads: int = 1) -> tuple[int, int, dict[str, float]]:
    async def main() -> tuple[int, int, dict[str, float]]:
        emu = await ModbusEmulator({1: UnitState(m, Scenario("press"))}).start()
        dev = Device(name="m", driver="modbus_tcp", model=m.name, host="127.0.0.1", port=emu.port)
        drv = load_driver_module("modbus_tcp").DRIVER(dev, m, None, None)
        try:
            for _ in range(reads):
                result = await drv.timed_read()
        finally:
            await drv.close()
            await emu.stop()
        return emu.requests[1], drv.requests, result.values

    return asyncio.run(main())


@pytest.mark.parametrize("name, per_poll", [
    ("eastron-sdm630", 1),   # 74 registers with gaps <= max_gap 64: one request
    ("eastron-sdm120", 1),
    ("chint-dtsu666", 3),    # 0x2006.., 0x2044 and 0x401E are too far apart for max_gap 8
    ("chint-ddsu666", 2),
    ("xy-md02", 1),
])
def test_shipped_maps_poll_in_planned_requests(name: str, per_poll: int) -> None:
    m = model(name)
    served, counted, values = served_requests(m, reads=3)
    assert served == counted == 3 * per_poll
    assert set(values) == {p.name for p in m.points}


def test_wider_gap_merges_requests_on_the_wire() -> None:
    m = msgspec.structs.replace(model("chint-dtsu666"), max_gap=64)
    served, _, _ = served_requests(m)
    assert served == 2  # 0x2006..0x2045 in one request now; the energy block stays separate


def test_125_register_limit_splits_a_long_block() -> None:
    points = [PointDef(name=f"p{i}", meaning=f"test.p{i}", address=i * 2, table="holding") for i in range(100)]
    m = Model(name="long", points=points, max_gap=8)
    reqs = plan([(p.table, p.address or 0, p.type) for p in points], m.max_gap, m.max_regs)
    assert [r.count for r in reqs] == [124, 76]  # float32 never split across requests
    served, _, values = served_requests(m)
    assert served == 2 and len(values) == 100


def test_max_regs_and_tables_are_respected() -> None:
    pts = [("holding", 0, "float32"), ("holding", 10, "uint16"), ("input", 0, "uint16"), ("input", 50, "uint16")]
    reqs = plan(pts, max_gap=8, max_regs=125)
    assert [(r.table, r.start, r.count) for r in reqs] == [("holding", 0, 11), ("input", 0, 1), ("input", 50, 1)]
    reqs = plan(pts, max_gap=8, max_regs=4)
    assert [(r.table, r.start, r.count) for r in reqs][:2] == [("holding", 0, 2), ("holding", 10, 1)]
