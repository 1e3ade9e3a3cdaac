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
