"""Aosong AHT20 temperature/humidity over I2C through adafruit_ahtx0.

adafruit_ahtx0 (1.0.x) reads the 6-byte measurement and ignores the 7th byte, the CRC-8
the AHT20 sends after it. A reading with a flipped bit would become a wrong number, so
this driver subclasses the Adafruit class and replaces only the measurement read: it
reads 7 bytes and checks the CRC (poly 0x31, init 0xFF, as the datasheet specifies).
Initialisation, calibration and the status polling stay the unmodified Adafruit code.
"""

from __future__ import annotations

import time
from typing import Any

from drivers.i2c.crc import crc8
from drivers.i2c.sensor import CrcError, I2COptions, I2CSensorDriver, check_i2c_device
from drivers.support.types import PointSpec

Options = I2COptions
check_device = check_i2c_device


def _checked_class() -> Any:
    import adafruit_ahtx0

    class CheckedAHTx0(adafruit_ahtx0.AHTx0):  # type: ignore[misc]
        def _readdata(self) -> None:
            self._buf[0] = adafruit_ahtx0.AHTX0_CMD_TRIGGER
            self._buf[1] = 0x33
            self._buf[2] = 0x00
            with self.i2c_device as i2c:
                i2c.write(self._buf, start=0, end=3)
            deadline = time.monotonic() + 1.0
            while self.status & adafruit_ahtx0.AHTX0_STATUS_BUSY:
                if time.monotonic() > deadline:
                    raise OSError("AHT20 stayed busy for 1 s")
                time.sleep(0.01)
            frame = bytearray(7)
            with self.i2c_device as i2c:
                i2c.readinto(frame)
            if crc8(frame[:6]) != frame[6]:
                raise CrcError(f"AHT20 CRC mismatch (got 0x{frame[6]:02x}, computed 0x{crc8(frame[:6]):02x})")
            h = (frame[1] << 12) | (frame[2] << 4) | (frame[3] >> 4)
            t = ((frame[3] & 0xF) << 16) | (frame[4] << 8) | frame[5]
            self._humidity = h * 100 / 0x100000
            self._temp = t * 200.0 / 0x100000 - 50

        def measure(self) -> tuple[float, float]:
            self._readdata()
            return float(self._temp), float(self._humidity)

    return CheckedAHTx0


class Aht20Driver(I2CSensorDriver):
    kind = "aht20"
    default_address = 0x38

    def points(self) -> list[PointSpec]:
        return [self.point("temperature", "env.temp_c", "degC", -40, 85),
                self.point("humidity", "env.rh_pct", "%RH", 0, 100)]

    def make_sensor(self, i2c: Any) -> Any:
        return _checked_class()(i2c, address=self.address)

    def measure(self, sensor: Any) -> dict[str, float]:
        t, rh = sensor.measure()
        return {"temperature": t, "humidity": rh}


DRIVER = Aht20Driver
