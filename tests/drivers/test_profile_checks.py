"""Driver options and wiring are checked at profile load, naming file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.profile.load import ProfileError, load_profile

BUSES = """
[site]
id = "s"
[[buses]]
name = "gpio"
kind = "gpio"
[[buses]]
name = "i2c-1"
kind = "i2c"
[[buses]]
name = "rs485"
kind = "serial"
port = "/dev/ttyUSB0"
[[devices]]
name = "d"
"""


@pytest.mark.parametrize("device, key, expected", [
    ('driver = "pulse"\nbus = "gpio"\noptions = { pin = "D17", per_pulse = 0 }', "devices[0].options.per_pulse",
     "> 0"),
    ('driver = "pulse"\nbus = "gpio"\noptions = { per_pulse = 0.01 }', "devices[0].options.pin", "GPIO pin name"),
    ('driver = "pulse"\nbus = "gpio"\noptions = { pin = "D17", debounce = 5 }', "devices[0].options.debounce",
     "unknown field"),
    ('driver = "hx711"\nbus = "gpio"\noptions = { dout_pin = "D5" }', "devices[0].options.sck_pin", "GPIO pin"),
    ('driver = "hx711"\nbus = "gpio"\noptions = { dout_pin = "D5", sck_pin = "D6", gain = 100 }',
     "devices[0].options.gain", "one of [32, 64, 128]"),
    ('driver = "sht31d"\nbus = "gpio"', "devices[0].bus", "kind 'i2c'"),
    ('driver = "bme280"\nbus = "i2c-1"\noptions = { retries = -1 }', "devices[0].options.retries", ">= 0"),
    ('driver = "modbus_rtu"\nmodel = "xy-md02"\nbus = "i2c-1"', "devices[0].bus", "kind 'serial'"),
    ('driver = "modbus_rtu"\nmodel = "xy-md02"\nbus = "rs485"\nunit_id = 0', "devices[0].unit_id", "1..247"),
    ('driver = "gnss"\nbus = "rs485"\noptions = { geofence = [[31.2, 121.4], [31.3, 121.4]] }',
     "devices[0].options.geofence", "at least 3"),
    ('driver = "digital_in"\nbus = "gpio"', "devices[0].options.pin", "GPIO pin"),
])
def test_driver_checks(tmp_path: Path, device: str, key: str, expected: str) -> None:
    p = tmp_path / "p.toml"
    p.write_text(BUSES + device + "\n")
    with pytest.raises(ProfileError) as info:
        load_profile(p)
    assert info.value.file == str(p)
    assert info.value.key == key, str(info.value)
    assert expected in info.value.expected, str(info.value)
