"""The wire-time formula and the profile-load check that poll periods fit the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.modbus.bustime import bits_per_char, gap_s, request_wire_s
from gateway.profile.load import ProfileError, load_profile

PROFILE = """
[site]
id = "s1"

[[buses]]
name = "rs485-1"
kind = "serial"
port = "/dev/ttySC0"
baudrate = {baud}
parity = "E"
timeout_s = 0.5

[[devices]]
name = "meter-a"
driver = "modbus_rtu"
model = "eastron-sdm630"
bus = "rs485-1"
unit_id = 1
poll_interval_s = {poll}

[[devices]]
name = "climate"
driver = "modbus_rtu"
model = "xy-md02"
bus = "rs485-1"
unit_id = 2
poll_interval_s = 10
"""


def test_formula() -> None:
    assert bits_per_char(8, "N", 1) == 10 and bits_per_char(8, "E", 1) == 11 and bits_per_char(8, "N", 2) == 11
    assert gap_s(9600, 8, "N", 1) == pytest.approx(3.5 * 10 / 9600)
    assert gap_s(115200) == 0.00175  # fixed above 19200 baud
    # 74 registers at 9600 8N1: 8 + 153 bytes + 2 x 3.5 chars = 168 chars of 1.0417 ms
    assert request_wire_s("input", 74, 9600) == pytest.approx(168 * 10 / 9600)
    assert request_wire_s("coil", 16, 9600) == pytest.approx((8 + 7 + 7) * 10 / 9600)


def test_polls_that_fit_load(tmp_path: Path) -> None:
    p = tmp_path / "ok.toml"
    p.write_text(PROFILE.format(baud=9600, poll=1.0))
    assert len(load_profile(p).devices) == 2


def test_polls_that_do_not_fit_name_file_key_and_expectation(tmp_path: Path) -> None:
    p = tmp_path / "tight.toml"
    # SDM630 at 2400 8E1: 168 chars x 11 bits / 2400 = 0.77 s of wire time, polled every 0.5 s
    p.write_text(PROFILE.format(baud=2400, poll=0.5))
    with pytest.raises(ProfileError) as info:
        load_profile(p)
    err = info.value
    assert err.file == str(p)
    assert err.key == "devices[0].poll_interval_s"
    assert "2400 baud 8E1" in err.expected and "'meter-a'" in err.expected and "Poll every >=" in err.expected


def test_shipped_profile_fits() -> None:
    prof = load_profile("sim-factory")
    assert any(b.kind == "serial" for b in prof.buses)


def test_paced_line_cycle_is_within_1_3x_of_wire_time() -> None:
    """The bench's method in miniature: a 9600-baud paced line, a real RTU poll of an SDM120
    (74 registers) and an XY-MD02; achieved time must cover the wire time and stay near it."""
    import asyncio
    import time

    from drivers.modbus.bustime import plan_wire_s
    from drivers.modbus_rtu import ModbusRtuDriver
    from drivers.sim.modbus_server import ModbusEmulator, UnitState
    from drivers.sim.paced_line import PacedLine
    from drivers.sim.scenarios import Scenario
    from drivers.support.bus import BusHandle
    from gateway.profile.schema import Bus, Device
    from tests.drivers.conftest import model

    sdm, md02 = model("eastron-sdm120"), model("xy-md02")

    async def main() -> tuple[float, float]:
        emu = await ModbusEmulator({1: UnitState(sdm, Scenario("press")),
                                    2: UnitState(md02, Scenario("climate"))}, framer="rtu").start()
        line = await PacedLine(emu.port, 9600).start()
        bus = BusHandle(Bus(name="l", kind="serial", port=f"socket://127.0.0.1:{line.port}", timeout_s=1.0))
        drivers = [ModbusRtuDriver(Device(name=f"u{u}", driver="modbus_rtu", bus="l", unit_id=u), m, bus, bus.cfg)
                   for u, m in ((1, sdm), (2, md02))]
        for d in drivers:
            await d.timed_read()  # connect
        wire = sum(d.wire_s for d in drivers)
        t0 = time.perf_counter()
        for _ in range(3):
            for d in drivers:
                await d.timed_read()
        took = (time.perf_counter() - t0) / 3
        for d in drivers:
            await d.close()
        await line.stop()
        await emu.stop()
        return wire, took

    wire, took = asyncio.run(main())
    assert wire == pytest.approx(plan_wire_s([type("R", (), {"table": "input", "count": 74})(),
                                              type("R", (), {"table": "input", "count": 2})()],
                                             Bus(name="l", kind="serial")))
    assert wire * 0.97 <= took <= wire * 1.3
