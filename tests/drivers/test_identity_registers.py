"""Identity registers: the map's [identity] table, the emulator's answers, the drivers' reads.

Real pymodbus server (the emulator) and client (the Modbus TCP driver and the RTU driver over a
real pty pair); the decoding round trip is a property test against the emulator's own encoding.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.identity import decode_identity, plan_identity
from drivers.modbus_tcp import ModbusTcpDriver
from drivers.sim.modbus_server import ModbusEmulator, UnitState, _identity_regs, sim_identity
from drivers.sim.scenarios import Scenario
from drivers.support.base import DriverError
from gateway.profile.load import ProfileError, find_model_file, load_model_file
from gateway.profile.schema import Device, Identity, IdentityReg, Model

SDM630 = load_model_file(find_model_file("eastron-sdm630"))  # type: ignore[arg-type]


async def _identify(model: Model, identity: dict[str, int | str] | None) -> tuple[dict[str, str] | None, int]:
    emu = await ModbusEmulator({1: UnitState(model, Scenario("press"), identity=identity)}).start()
    drv = ModbusTcpDriver(Device(name="m", driver="modbus_tcp", model=model.name, host="127.0.0.1", port=emu.port),
                          model, None, None)
    try:
        return await drv.identify(), emu.requests[1]
    finally:
        await drv.close()
        await emu.stop()


def test_an_eastron_answers_serial_and_meter_code_in_one_request() -> None:
    ident, requests = asyncio.run(_identify(SDM630, {"serial": 19120345, "model": 112}))
    assert ident == {"serial": "19120345", "model": "112"} and requests == 1


def test_distinct_devices_get_distinct_emulated_serials() -> None:
    a, b = sim_identity("press-1-meter", SDM630), sim_identity("press-2-meter", SDM630)
    assert a and b and a["serial"] != b["serial"]


def test_a_blank_serial_is_no_identity_and_a_missing_register_is_a_driver_error() -> None:
    ident, _ = asyncio.run(_identify(SDM630, None))  # a unit with no serial programmed answers zeros
    assert ident == {}
    # A map pointing at a register the device does not have: the device answers exception 2.
    wrong = msgspec.structs.replace(SDM630, identity=Identity(serial=IdentityReg(address=0x9000)))

    async def main() -> None:
        emu = await ModbusEmulator({1: UnitState(SDM630, Scenario("press"))}).start()
        drv = ModbusTcpDriver(Device(name="m", driver="modbus_tcp", model="x", host="127.0.0.1", port=emu.port),
                              wrong, None, None)
        try:
            with pytest.raises(DriverError) as err:
                await drv.identify()
            assert err.value.kind == "exception" and "identity serial" in str(err.value)
        finally:
            await drv.close()
            await emu.stop()

    asyncio.run(main())


def test_an_ascii_serial_reads_as_text() -> None:
    model = msgspec.structs.replace(SDM630, identity=Identity(
        serial=IdentityReg(address=0xFC10, type="ascii", count=6), firmware=IdentityReg(address=0xFC00,
                                                                                         type="uint16")))
    # 15 registers apart: more than the gap a request spans, so two requests
    plan = [(t, a, n) for t, a, n, _ in plan_identity(model.identity)]
    assert plan == [("holding", 0xFC00, 1), ("holding", 0xFC10, 6)]
    ident, _ = asyncio.run(_identify(model, {"serial": "CN2024-0815", "firmware": 301}))
    assert ident == {"serial": "CN2024-0815", "firmware": "301"}


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["uint16", "int16", "uint32", "int32", "uint64"]), st.data(),
       st.sampled_from(["big", "little"]), st.sampled_from(["big", "little"]))
def test_integer_identity_round_trips(dtype: str, data: st.DataObject, word: str, byte: str) -> None:
    bits = {"uint16": 16, "int16": 16, "uint32": 32, "int32": 32, "uint64": 53}[dtype]
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if dtype.startswith("int") else (0, 2 ** bits - 1)
    value = data.draw(st.integers(lo, hi))
    reg = IdentityReg(address=10, type=dtype, word_order=word, byte_order=byte)  # type: ignore[arg-type]
    model = msgspec.structs.replace(SDM630, identity=Identity(serial=reg))
    regs = _identity_regs(model, {"serial": value})
    got = decode_identity([regs[a] for a in sorted(regs)], reg, "big", "big")
    assert got == (None if value == 0 else str(value))


@pytest.mark.parametrize("body, key", [
    ('[identity]\nserial = { address = 64512, type = "float32" }\n', "identity.serial.type"),
    ('[identity]\nserial = { address = 70000 }\n', "identity.serial.address"),
    ('[identity]\nserial_no = { address = 1 }\n', "identity"),
])
def test_a_bad_identity_table_names_the_file_and_key(tmp_path: Path, body: str, key: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\n' + body)
    with pytest.raises(ProfileError) as err:
        load_model_file(path)
    assert err.value.file == str(path) and err.value.key.startswith(key), err.value
