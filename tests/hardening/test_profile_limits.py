"""Issue 18: profile values that used to pass validation and crash (or hang) the gateway at
start are refused at load with one line naming the file, the key and what was expected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.profile import ProfileError, load_profile
from tests.test_profile_validation import BASE

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "p.toml", bom: bool = False) -> Path:
    p = tmp_path / name
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return p


@pytest.mark.parametrize("extra, key, expected", [
    ("[indicators]\nwindows = [\"0s\"]\n", "indicators.windows[0]", "not zero"),
    ("[indicators]\nwindows = [\"15m\", \"000h\"]\n", "indicators.windows[1]", "not zero"),
    ("poll_interval_s = inf\n", "devices[0].poll_interval_s", "finite"),
    ("timeout_s = nan\n", "devices[0].timeout_s", "finite"),
    ("poll_interval_s = 1e300\n", "devices[0].poll_interval_s", "<="),
    ("[devices.params]\non_threshold_kw = -inf\n", "devices[0].params.on_threshold_kw", "finite"),
    ("[devices.ranges]\nvoltage_l1 = [0, nan]\n", "devices[0].ranges.voltage_l1[1]", "finite"),
    ("[uplink]\ninterval_s = inf\n", "uplink.interval_s", "finite"),
    ("[uplink]\nbackoff_max_s = 1e12\n", "uplink.backoff_max_s", "<="),
    ("[store]\nflush_interval_s = 1e9\n", "store.flush_interval_s", "<="),
    ("[indicators]\ngrace_s = 1e99\n", "indicators.grace_s", "<="),
    ("[models.mine]\nname = \"mine\"\n[[models.mine.points]]\nname = \"x\"\nmeaning = \"energy.total_kwh\"\n"
     "scale = nan\n", "models.mine.points[0].scale", "finite"),
    ("[models.mine]\nname = \"mine\"\n[[models.mine.points]]\nname = \"x\"\nmeaning = \"energy.total_kwh\"\n"
     "offset = 1e300\n", "models.mine.points[0].offset", "<="),
])
def test_numbers_that_crash_or_hang_are_refused(tmp_path: Path, extra: str, key: str, expected: str) -> None:
    path = write(tmp_path, BASE + extra)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.key == key, str(info.value)
    assert expected in info.value.expected and str(path) in str(info.value)


def test_a_deeply_nested_profile_is_a_profile_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "[devices.params]\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ProfileError, match="nested at most"):
        load_profile(path)
    path = write(tmp_path, BASE + "[devices.params]\nx = " + "[" * 40 + "]" * 40 + "\n", "shallow.toml")
    with pytest.raises(ProfileError, match=r"devices\[0\]\.params\.x.*nested at most"):
        load_profile(path)


def test_a_profile_with_a_utf8_bom_loads(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path, BASE, bom=True)).site.id == "s1"


@pytest.mark.parametrize("driver", ["state", "geofence", "bus", "types", "base", "support", "modbus", "sim", "gpio",
                                    "i2c", "support.base"])
def test_a_helper_module_under_drivers_is_not_a_driver(tmp_path: Path, driver: str) -> None:
    """Only drivers/<kind>.py exposing DRIVER is a driver; shared code (drivers/support/, protocol packages,
    the emulators) is refused with the list of drivers, naming the key."""
    path = write(tmp_path, BASE.replace('driver = "modbus_tcp"', f'driver = "{driver}"'))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.key == "devices[0].driver" and "not a driver" in info.value.expected
    assert "modbus_tcp" in info.value.expected and "'state'" not in info.value.expected.split("(")[0]


def _cli(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEPROOF_LOG_LEVEL": "ERROR"}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60, cwd=ROOT)


def test_run_with_a_deep_profile_or_a_readable_privacy_key_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    deep = write(tmp_path, BASE + "[devices.params]\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    res = _cli("run", "--state", str(state), "--profile", str(deep), state=state)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "nested at most" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr

    assert _cli("init", "--state", str(state), state=state).returncode == 0
    (state / "enrollment.json").write_text('{"enterprise_id": "ent-1", "receiver_url": "http://127.0.0.1:9"}')
    key = state / "privacy.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    res = _cli("run", "--state", str(state), state=state)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert "privacy.key" in last and "chmod 600" in last, res.stderr


def test_driver_discovery_sees_only_drivers() -> None:
    """Every module directly under drivers/ is a driver exposing DRIVER (the camera among them); helpers live in
    drivers/support/, so the list the loader offers is exactly the importable drivers."""
    import importlib

    from gateway.profile.load import DRIVERS_DIR, known_drivers, load_driver_module

    modules = sorted(p.stem for p in DRIVERS_DIR.glob("*.py") if p.stem != "__init__")
    assert known_drivers() == modules and "camera" in modules
    for kind in modules:
        assert load_driver_module(kind).DRIVER is importlib.import_module(f"drivers.{kind}").DRIVER
    assert not [p for p in (DRIVERS_DIR / "support").glob("*.py") if "\nDRIVER" in p.read_text()]
