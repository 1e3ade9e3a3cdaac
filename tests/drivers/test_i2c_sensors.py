"""SHT31-D, BME280 and AHT20: the unmodified Adafruit drivers on an emulated I2C bus that
answers byte for byte (CRC included). CRC failures are retried and counted, never numbers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from drivers.i2c.crc import crc8
from drivers.sim.i2c_bus import Aht20, Bme280, EmulatedI2C, Sht31
from drivers.support.base import Driver, DriverError
from drivers.support.bus import BusHandle
from gateway.profile.schema import Bus, Device
from gateway.runtime import load_driver_module

PINNED = {"env.temp_c": 23.4, "env.rh_pct": 56.7, "env.pressure_hpa": 1008.6}


def values() -> dict[str, float]:
    return dict(PINNED)


def setup(kind: str, chip: Any, address: int, **options: Any) -> tuple[Driver, EmulatedI2C]:
    i2c = EmulatedI2C()
    i2c.attach(address, chip)
    bus = BusHandle(Bus(name="i2c-1", kind="i2c"), resource=i2c)
    dev = Device(name=kind, driver=kind, bus="i2c-1", address=address, options=options)
    return load_driver_module(kind).DRIVER(dev, None, bus, bus.cfg), i2c


def read(drv: Driver, times: int = 1) -> Any:
    async def main() -> Any:
        try:
            for _ in range(times):
                result = await drv.timed_read()
            return result
        finally:
            await drv.close()

    return asyncio.run(main())


def test_crc8_datasheet_check_value() -> None:
    assert crc8(b"\xbe\xef") == 0x92


@pytest.mark.parametrize("kind, chip, address, tol", [
    ("sht31d", Sht31, 0x44, 0.01),     # 16-bit words: ~0.003 degC, 0.002 %RH per count
    ("aht20", Aht20, 0x38, 0.001),     # 20-bit fields
    ("bme280", Bme280, 0x76, 0.02),    # through Bosch's compensation of 20-bit ADC codes
])
def test_sensor_reads_through_adafruit_driver(kind: str, chip: type, address: int, tol: float) -> None:
    drv, _ = setup(kind, chip(values), address)
    result = read(drv)
    assert result.values["temperature"] == pytest.approx(23.4, abs=tol)
    assert result.values["humidity"] == pytest.approx(56.7, abs=tol * 5)
    if kind == "bme280":
        assert result.values["pressure"] == pytest.approx(1008.6, abs=0.05)
    assert {p.meaning for p in drv.points()} >= {"env.temp_c", "env.rh_pct"}
    assert drv.errors == {}


@pytest.mark.parametrize("kind, chip, address", [("sht31d", Sht31, 0x44), ("aht20", Aht20, 0x38)])
def test_crc_failure_is_retried_and_counted(kind: str, chip: type, address: int) -> None:
    c = chip(values)
    c.crc_faults = 2  # the next two frames arrive with a bad CRC
    drv, _ = setup(kind, c, address, retries=2)
    result = read(drv)
    assert result.values["temperature"] == pytest.approx(23.4, abs=0.01)
    assert drv.errors["crc"] == 2 and drv.errors["crc_recovered"] == 1
    assert result.requests == 3


@pytest.mark.parametrize("kind, chip, address", [("sht31d", Sht31, 0x44), ("aht20", Aht20, 0x38)])
def test_persistent_crc_failure_fails_the_read(kind: str, chip: type, address: int) -> None:
    c = chip(values)
    c.crc_faults = 100
    drv, _ = setup(kind, c, address, retries=2)
    with pytest.raises(DriverError) as info:
        read(drv)
    assert info.value.kind == "crc"
    assert drv.errors["crc"] == 3  # three attempts, three CRC failures, no number


def test_aht20_crc_is_checked_although_adafruit_ignores_it() -> None:
    """The unmodified adafruit_ahtx0 reads 6 bytes and would return the corrupted frame's
    numbers: the 7th byte is what tells a flipped bit apart."""
    import adafruit_ahtx0

    c = Aht20(values)
    i2c = EmulatedI2C()
    i2c.attach(0x38, c)
    plain = adafruit_ahtx0.AHTx0(i2c)
    c.crc_faults = 1
    assert plain.temperature == pytest.approx(23.4, abs=0.01)  # no CRC check: fault invisible
    c.crc_faults = 1
    drv, _ = setup("aht20", c, 0x38, retries=0)
    with pytest.raises(DriverError):
        read(drv)


def test_absent_chip_is_not_found() -> None:
    c = Sht31(values)
    c.absent = True
    drv, _ = setup("sht31d", c, 0x44)
    with pytest.raises(DriverError) as info:
        read(drv)
    assert info.value.kind == "not_found" and "0x44" in info.value.message


def test_bmp280_is_refused() -> None:
    drv, _ = setup("bme280", Bme280(values, chip_id=0x58), 0x77)
    with pytest.raises(DriverError) as info:
        read(drv)
    assert info.value.kind == "io"


def test_sensors_share_one_bus_object_and_lock() -> None:
    i2c = EmulatedI2C()
    sht, bme = Sht31(values), Bme280(values)
    i2c.attach(0x44, sht)
    i2c.attach(0x76, bme)
    bus = BusHandle(Bus(name="i2c-1", kind="i2c"), resource=i2c)
    drivers = [load_driver_module(k).DRIVER(Device(name=k, driver=k, bus="i2c-1", address=a), None, bus, bus.cfg)
               for k, a in (("sht31d", 0x44), ("bme280", 0x76))]

    async def main() -> list[Any]:
        return list(await asyncio.gather(*(d.timed_read() for _ in range(3) for d in drivers)))

    results = asyncio.run(main())
    assert len(results) == 6 and all(r.values["temperature"] == pytest.approx(23.4, abs=0.02) for r in results)
    assert sht.transactions["cmd_2400"] >= 6  # each read: temperature and humidity single shots
    assert bme.transactions["conversion"] >= 3
    assert bus.busy_s > 0
