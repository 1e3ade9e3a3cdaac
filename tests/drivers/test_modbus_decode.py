"""Data types, the four word/byte orders, scale and offset: literal register images, then
the same through a real pymodbus server and the Modbus TCP driver."""

from __future__ import annotations

import asyncio

import pytest

from drivers.modbus.decode import decode, encode
from drivers.sim.modbus_server import ModbusEmulator, UnitState
from drivers.sim.scenarios import Scenario
from gateway.profile.schema import Device, Model, PointDef
from gateway.runtime import load_driver_module

# 123.456 as IEEE-754 float32 is 0x42F6E979: the register images a meter sends in each order.
FLOAT_IMAGES = {
    ("big", "big"): [0x42F6, 0xE979],        # ABCD
    ("little", "big"): [0xE979, 0x42F6],     # CDAB (word swap: many PLCs)
    ("big", "little"): [0xF642, 0x79E9],     # BADC (byte swap)
    ("little", "little"): [0x79E9, 0xF642],  # DCBA
}


@pytest.mark.parametrize("orders, regs", FLOAT_IMAGES.items())
def test_float32_in_all_four_orders(orders: tuple[str, str], regs: list[int]) -> None:
    assert decode(regs, "float32", *orders) == pytest.approx(123.456, rel=1e-7)
    assert encode(123.456, "float32", *orders) == regs


@pytest.mark.parametrize("dtype, regs, expected", [
    ("int16", [0xFF85], -123),
    ("uint16", [0xFF85], 65413),
    ("int32", [0xFFFE, 0x1DC0], -123456),
    ("uint32", [0x0001, 0xE240], 123456),
    ("float64", [0x405E, 0xDD2F, 0x1A9F, 0xBE77], 123.456),
])
def test_integer_and_double_images(dtype: str, regs: list[int], expected: float) -> None:
    assert decode(regs, dtype) == pytest.approx(expected)
    # CDAB for multi-word types: the words reversed
    assert decode(list(reversed(regs)), dtype, "little", "big") == pytest.approx(expected)


def test_scale_and_offset() -> None:
    # XY-MD02: int16 tenths of a degree; -5.3 degC is 0xFFCB
    assert decode([0xFFCB], "int16", scale=0.1) == pytest.approx(-5.3)
    # 4-20 mA in uA -> 0..10 bar: 12000 uA is 5 bar
    assert decode([12000], "uint16", scale=0.000625, offset=-2.5) == pytest.approx(5.0)


ALL_TYPES = ["int16", "uint16", "int32", "uint32", "float32", "float64"]
ORDERS = [("big", "big"), ("little", "big"), ("big", "little"), ("little", "little")]


def _matrix_model() -> tuple[Model, dict[str, float]]:
    points, values, addr = [], {}, 0
    for dtype in ALL_TYPES:
        for wo, bo in ORDERS:
            name = f"{dtype}_{wo[0]}{bo[0]}"
            meaning = f"test.{name}"
            value = {"int16": -1234.5, "uint16": 6553.4, "int32": -12345678.9, "uint32": 4000000.1,
                     "float32": 3.25, "float64": -98765.4321}[dtype]
            scale = 0.1 if dtype in ("int16", "uint16", "int32", "uint32") else 1.0
            points.append(PointDef(name=name, meaning=meaning, address=addr, type=dtype, word_order=wo,  # type: ignore[arg-type]
                                   byte_order=bo, scale=scale, offset=0.0, table="holding"))  # type: ignore[arg-type]
            values[meaning] = value
            addr += {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4}[dtype]
    return Model(name="matrix", points=points, max_gap=0), values


def test_every_type_and_order_through_pymodbus() -> None:
    model, values = _matrix_model()

    async def main() -> tuple[dict[str, float], int, int]:
        emu = await ModbusEmulator({7: UnitState(model, Scenario("press", overrides=values))}).start()
        dev = Device(name="m", driver="modbus_tcp", model="matrix", host="127.0.0.1", port=emu.port, unit_id=7)
        drv = load_driver_module("modbus_tcp").DRIVER(dev, model, None, None)
        try:
            result = await drv.timed_read()
        finally:
            await drv.close()
            await emu.stop()
        return result.values, result.requests, emu.requests[7]

    got, planned, served = asyncio.run(main())
    assert len(got) == len(ALL_TYPES) * 4
    for p in model.points:
        assert got[p.name] == pytest.approx(values[p.meaning], rel=1e-6, abs=1e-3), p.name
    # contiguous registers, every type and order: one request (66 registers < 125)
    assert planned == 1 and served == 1
