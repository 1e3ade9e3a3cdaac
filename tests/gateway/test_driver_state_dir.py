"""Drivers that persist their own totals keep them in the gateway's state directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.profile import load_profile
from gateway.runtime import build_drivers

PROFILE = """
[site]
id = "s"
[[buses]]
name = "gpio"
kind = "gpio"
[[devices]]
name = "water"
driver = "pulse"
bus = "gpio"
[devices.options]
pin = "D17"
meaning = "water.total_m3"
unit = "m3"
per_pulse = 0.01
"""


def test_pulse_total_lives_beside_the_store(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(PROFILE)
    profile = load_profile(tmp_path / "p.toml")
    drivers, *_ = asyncio.run(build_drivers(profile, simulate=False, state_dir=tmp_path / "state"))
    assert drivers[0].options.state_dir == str(tmp_path / "state")
