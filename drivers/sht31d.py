"""Sensirion SHT31-D temperature/humidity over I2C through the unmodified adafruit_sht31d.

Single-shot, high repeatability (~15 ms per conversion). The Adafruit driver checks each
word's CRC and raises RuntimeError("CRC mismatch"): that is counted and retried, never
turned into a number. Default address 0x44 (0x45 with ADDR pulled high).
"""

from __future__ import annotations

from typing import Any

from drivers.i2c.sensor import CrcError, I2COptions, I2CSensorDriver, check_i2c_device
from drivers.support.types import PointSpec

Options = I2COptions
check_device = check_i2c_device


class Sht31dDriver(I2CSensorDriver):
    kind = "sht31d"
    default_address = 0x44

    def points(self) -> list[PointSpec]:
        return [self.point("temperature", "env.temp_c", "degC", -40, 125),
                self.point("humidity", "env.rh_pct", "%RH", 0, 100)]

    def make_sensor(self, i2c: Any) -> Any:
        import adafruit_sht31d

        return adafruit_sht31d.SHT31D(i2c, address=self.address)

    def measure(self, sensor: Any) -> dict[str, float]:
        try:
            t = float(sensor.temperature)
            rh = float(sensor.relative_humidity)
        except RuntimeError as exc:
            if "CRC" in str(exc):
                raise CrcError(str(exc)) from exc
            raise OSError(str(exc)) from exc
        return {"temperature": t, "humidity": rh}


DRIVER = Sht31dDriver
