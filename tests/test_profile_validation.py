"""A broken profile names the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.profile import ProfileError, load_profile
from gateway.profile.load import PROFILE_DIR

BASE = """
[site]
id = "s1"

[[devices]]
name = "m1"
driver = "modbus_tcp"
model = "eastron-sdm630"
host = "127.0.0.1"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "broken.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, key, expected", [
    (BASE.replace('id = "s1"', 'id = 5'), "site.id", "Expected `str`"),
    (BASE + "poll_interval_s = 0\n", "devices[0].poll_interval_s", "Expected `float` > 0"),
    (BASE + "unit_id = 300\n", "devices[0].unit_id", "<= 247"),
    (BASE + "pol_interval_s = 1\n", "devices[0].pol_interval_s", "unknown field"),
    (BASE.replace('model = "eastron-sdm630"', 'model = "no-such-meter"'), "devices.m1.model",
     "shipped register map"),
    (BASE.replace('driver = "modbus_tcp"', 'driver = "telepathy"'), "devices[0].driver", "a known driver"),
    (BASE.replace('host = "127.0.0.1"', ''), "devices[0].host", "IP address"),
    (BASE + 'bus = "rs485-1"\n', "devices[0].bus", "one of the declared buses"),
    ("[site]\n", "site.id", "missing required field"),
    (BASE + "[uplink]\ntransport = \"carrier-pigeon\"\n", "uplink.transport", "Invalid enum value"),
    (BASE + "[indicators]\nwindows = [\"15 minutes\"]\n", "indicators.windows[0]", "a duration such as"),
    (BASE + "[[devices]]\nname = \"m1\"\ndriver = \"modbus_tcp\"\nmodel = \"eastron-sdm630\"\nhost = \"h\"\n",
     "devices[1].name", "unique device name"),
    (BASE + "[devices.ranges]\nvoltage_l9 = [0, 1]\n", "devices[0].ranges.voltage_l9", "a point of model"),
    (BASE + "[models.mine]\nname = \"mine\"\nmax_regs = 200\n", "models.mine.max_regs", "<= 125"),
    (BASE + "[store]\nretain_acked_days = -1\n", "store.retain_acked_days", ">= 0"),
])
def test_broken_profile_names_file_key_and_expectation(tmp_path: Path, text: str, key: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    err = info.value
    assert err.file == str(path)
    assert err.key == key, str(err)
    assert expected in err.expected, str(err)
    assert str(err).startswith(f"{path}: {key}: ")


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[site\nid = 1\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.key == "(syntax)" and "line 1" in info.value.expected


def test_found_value_is_shown(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "poll_interval_s = -3\n")
    with pytest.raises(ProfileError, match=r"found -3"):
        load_profile(path)


def test_unknown_profile_name_lists_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="sim-factory"):
        load_profile("no-such-profile")


@pytest.mark.parametrize("path", sorted(PROFILE_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_profile_loads(path: Path) -> None:
    assert load_profile(path).devices
