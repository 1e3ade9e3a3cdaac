"""An emulated I2C bus and chips that answer byte for byte, CRC included.

The unmodified Adafruit drivers (through adafruit_bus_device.I2CDevice) need only
``try_lock``, ``unlock``, ``writeto``, ``readfrom_into`` and ``writeto_then_readfrom``;
this bus provides exactly those and routes them to chip emulations by address. An
absent address raises ``OSError(EREMOTEIO)`` as a Linux I2C adapter does on a NACK, so
the driver reports "No I2C device at address". Chips take their values from a callable
(a Scenario by meaning) and encode them as the silicon does: SHT31 16-bit words with
CRC-8, BME280 20-bit ADC values that the Bosch compensation turns back into the value,
AHT20 20-bit fields and a trailing CRC-8. Fault injection: ``crc_faults`` corrupts the
CRC of the next N measurement frames; ``absent`` makes a chip NACK.
"""

from __future__ import annotations

import errno
import struct
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from drivers.i2c.crc import crc8

Values = Callable[[], dict[str, float]]


def _nack() -> OSError:
    return OSError(errno.EREMOTEIO, "Remote I/O error (NACK)")


class Chip:
    def __init__(self, values: Values) -> None:
        self.values = values
        self.absent = False
        self.crc_faults = 0
        self.transactions: Counter[str] = Counter()

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, n: int) -> bytes:
        raise NotImplementedError

    def _take_fault(self) -> bool:
        if self.crc_faults > 0:
            self.crc_faults -= 1
            return True
        return False


class EmulatedI2C:
    """The bus object handed to Adafruit drivers in place of ``board.I2C()``."""

    def __init__(self) -> None:
        self.chips: dict[int, Chip] = {}
        self._lock = threading.Lock()
        self._locked = False

    def attach(self, address: int, chip: Chip) -> Chip:
        self.chips[address] = chip
        return chip

    def try_lock(self) -> bool:
        with self._lock:
            if self._locked:
                return False
            self._locked = True
            return True

    def unlock(self) -> None:
        with self._lock:
            self._locked = False

    def scan(self) -> list[int]:
        return sorted(a for a, c in self.chips.items() if not c.absent)

    def _chip(self, address: int) -> Chip:
        chip = self.chips.get(address)
        if chip is None or chip.absent:
            raise _nack()
        return chip

    def writeto(self, address: int, buffer: Any, *, start: int = 0, end: int | None = None) -> None:
        chip = self._chip(address)
        data = bytes(buffer[start:end])
        if data:
            chip.write(data)

    def readfrom_into(self, address: int, buffer: Any, *, start: int = 0, end: int | None = None) -> None:
        chip = self._chip(address)
        end = len(buffer) if end is None else end
        buffer[start:end] = chip.read(end - start)

    def writeto_then_readfrom(self, address: int, buffer_out: Any, buffer_in: Any, *, out_start: int = 0,
                              out_end: int | None = None, in_start: int = 0, in_end: int | None = None) -> None:
        self.writeto(address, buffer_out, start=out_start, end=out_end)
        self.readfrom_into(address, buffer_in, start=in_start, end=in_end)

    def deinit(self) -> None:
        pass


class Sht31(Chip):
    """SHT3x: 16-bit commands; single-shot measurement answers T, CRC, RH, CRC."""

    SINGLE_SHOT = {0x2400, 0x240B, 0x2416, 0x2C06, 0x2C0D, 0x2C10}

    def __init__(self, values: Values) -> None:
        super().__init__(values)
        self.out = b""

    def write(self, data: bytes) -> None:
        if len(data) != 2:
            raise _nack()
        cmd = (data[0] << 8) | data[1]
        self.transactions[f"cmd_{cmd:04x}"] += 1
        if cmd in self.SINGLE_SHOT:
            v = self.values()
            t = round((v.get("env.temp_c", 20.0) + 45.0) / 175.0 * 65535)
            rh = round(max(0.0, min(100.0, v.get("env.rh_pct", 50.0))) / 100.0 * 65535)
            tw, hw = struct.pack(">H", max(0, min(65535, t))), struct.pack(">H", rh)
            frame = bytearray(tw + bytes([crc8(tw)]) + hw + bytes([crc8(hw)]))
            if self._take_fault():
                frame[2] ^= 0x5A
            self.out = bytes(frame)
        elif cmd == 0xF32D:  # status register
            st = b"\x80\x10"
            self.out = st + bytes([crc8(st)])
        else:  # break, soft reset, heater, clear status: acknowledged, nothing to read
            self.out = b""

    def read(self, n: int) -> bytes:
        if not self.out:
            raise _nack()  # a read with no measurement pending is NACKed by the chip
        out, self.out = self.out, b""
        return (out + b"\xff" * n)[:n]


# Calibration words: the temperature/pressure set is the example in Bosch's BME280
# datasheet; humidity values are typical of real parts.
BME280_CAL = {"T": (27504, 26435, -1000), "P": (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000),
              "H": (75, 370, 0, 309, 50, 30)}


def _bme_t_fine(adc_t: float) -> float:
    t1, t2, t3 = BME280_CAL["T"]
    var1 = (adc_t / 16384.0 - t1 / 1024.0) * t2
    var2 = (adc_t / 131072.0 - t1 / 8192.0) ** 2 * t3
    return float(int(var1 + var2))


def _bme_p(adc_p: float, t_fine: float) -> float:
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = BME280_CAL["P"]
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * p6 / 32768.0 + var1 * p5 * 2.0
    var2 = var2 / 4.0 + p4 * 65536.0
    var1 = (p3 * var1 * var1 / 524288.0 + p2 * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * p1
    p = ((1048576.0 - adc_p) - var2 / 4096.0) * 6250.0 / var1
    return (p + (p9 * p * p / 2147483648.0 + p * p8 / 32768.0 + p7) / 16.0) / 100.0


def _bme_h(adc_h: float, t_fine: float) -> float:
    h1, h2, h3, h4, h5, h6 = BME280_CAL["H"]
    var1 = t_fine - 76800.0
    var3 = adc_h - (h4 * 64.0 + h5 / 16384.0 * var1)
    var5 = 1.0 + h3 / 67108864.0 * var1
    var6 = var3 * (h2 / 65536.0) * (var5 * (1.0 + h6 / 67108864.0 * var1 * var5))
    return var6 * (1.0 - h1 * var6 / 524288.0)


def _invert(fn: Callable[[int], float], target: float, lo: int, hi: int) -> int:
    """Smallest raw code whose compensated value reaches the target (fn monotonic)."""
    increasing = fn(hi) > fn(lo)
    while lo < hi:
        mid = (lo + hi) // 2
        if (fn(mid) < target) == increasing:
            lo = mid + 1
        else:
            hi = mid
    return lo


class Bme280(Chip):
    """BME280: register file with auto-increment reads; a forced-mode write converts once."""

    def __init__(self, values: Values, chip_id: int = 0x60) -> None:
        super().__init__(values)
        self.regs = bytearray(256)
        self.regs[0xD0] = chip_id
        t, p, h = BME280_CAL["T"], BME280_CAL["P"], BME280_CAL["H"]
        self.regs[0x88:0xA0] = struct.pack("<HhhHhhhhhhhh", *t, *p)
        self.regs[0xA1] = h[0]
        e4, e5 = h[3] >> 4, ((h[4] & 0xF) << 4) | (h[3] & 0xF)
        self.regs[0xE1:0xE8] = struct.pack("<hBbBbb", h[1], h[2], e4, e5, h[4] >> 4, h[5])
        self.pointer = 0

    def _convert(self) -> None:
        v = self.values()
        temp = v.get("env.temp_c", 20.0)
        adc_t = _invert(lambda a: _bme_t_fine(a) / 5120.0, temp, 0, (1 << 20) - 1)
        t_fine = _bme_t_fine(adc_t)
        adc_p = _invert(lambda a: _bme_p(a, t_fine), v.get("env.pressure_hpa", 1013.25), 0, (1 << 20) - 1)
        adc_h = _invert(lambda a: _bme_h(a, t_fine), v.get("env.rh_pct", 50.0), 0, 65535)
        self.regs[0xF7:0xFA] = (adc_p << 4).to_bytes(3, "big")
        self.regs[0xFA:0xFD] = (adc_t << 4).to_bytes(3, "big")
        self.regs[0xFD:0xFF] = adc_h.to_bytes(2, "big")

    def write(self, data: bytes) -> None:
        self.pointer = data[0]
        for i, b in enumerate(data[1:]):
            reg = (data[0] + i) & 0xFF
            if reg == 0xE0 and b == 0xB6:  # soft reset
                self.regs[0xF2:0xF6] = b"\x00\x00\x00\x00"
                continue
            self.regs[reg] = b
            if reg == 0xF4 and b & 0x03 == 0x01:  # forced mode: one conversion, then sleep
                self.transactions["conversion"] += 1
                self._convert()
                self.regs[0xF4] = b & 0xFC

    def read(self, n: int) -> bytes:
        out = bytes(self.regs[(self.pointer + i) & 0xFF] for i in range(n))
        self.pointer = (self.pointer + n) & 0xFF
        return out


class Aht20(Chip):
    """AHT20: 0xBE calibrate, 0xAC 0x33 0x00 trigger, status byte, 6 data bytes + CRC-8."""

    def __init__(self, values: Values) -> None:
        super().__init__(values)
        self.status = 0x18
        self.frame = b""
        self.busy_reads = 0

    def write(self, data: bytes) -> None:
        cmd = data[0]
        self.transactions[f"cmd_{cmd:02x}"] += 1
        if cmd == 0xE1:  # AHT10's calibrate command: an AHT20 NACKs it
            raise _nack()
        if cmd == 0xAC:
            v = self.values()
            h = round(max(0.0, min(100.0, v.get("env.rh_pct", 50.0))) / 100.0 * 0x100000)
            t = round((v.get("env.temp_c", 20.0) + 50.0) / 200.0 * 0x100000)
            h, t = min(h, 0xFFFFF), max(0, min(t, 0xFFFFF))
            body = bytes([0x18, h >> 12 & 0xFF, h >> 4 & 0xFF, (h & 0xF) << 4 | (t >> 16 & 0xF), t >> 8 & 0xFF,
                          t & 0xFF])
            crc = crc8(body)
            if self._take_fault():
                crc ^= 0xA5
            self.frame = body + bytes([crc])
            self.busy_reads = 1  # the first status poll after a trigger reports busy
        # 0xBA soft reset, 0xBE calibrate: acknowledged

    def read(self, n: int) -> bytes:
        if n == 1:
            if self.busy_reads:
                self.busy_reads -= 1
                return bytes([self.status | 0x80])
            return bytes([self.status])
        frame = self.frame or bytes([self.status]) + b"\x00" * 6
        return (frame + b"\xff" * n)[:n]
