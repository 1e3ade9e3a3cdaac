"""Bosch BME280 temperature/humidity/pressure over I2C through the unmodified adafruit_bme280.

Forced mode: each read triggers one conversion. The chip has no CRC; the driver refuses
a BMP280 (chip id 0x58, no humidity) at construction, reported as ``io``. Default address
0x77 (0x76 with SDO to ground, the common breakout setting: set ``address``).
"""

from __future__ import annotations

from typing import Any

from drivers.i2c.sensor import I2COptions, I2CSensorDriver, check_i2c_device
from drivers.support.types import PointSpec

Options = I2COptions
check_device = check_i2c_device


class Bme280Driver(I2CSensorDriver):
    kind = "bme280"
    default_address = 0x77

    def points(self) -> list[PointSpec]:
        return [self.point("temperature", "env.temp_c", "degC", -40, 85),
                self.point("humidity", "env.rh_pct", "%RH", 0, 100),
                self.point("pressure", "env.pressure_hpa", "hPa", 300, 1100)]

    def make_sensor(self, i2c: Any) -> Any:
        from adafruit_bme280 import basic

        sensor = basic.Adafruit_BME280_I2C(i2c, address=self.address)
        sensor.mode = basic.MODE_FORCE
        return sensor

    def measure(self, sensor: Any) -> dict[str, float]:
        return {"temperature": float(sensor.temperature), "humidity": float(sensor.humidity),
                "pressure": float(sensor.pressure)}


DRIVER = Bme280Driver
