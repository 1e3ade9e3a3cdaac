"""The shipped board profiles: each loads, `edgeproof probe --simulate` reads every device
of its emulated twin, and the twin polls through a real Gateway."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from gateway.identity import init_identity
from gateway.profile import load_profile
from gateway.profile.load import PROFILE_DIR
from gateway.runtime import Gateway

BOARDS = ["rpi4-rs485", "rpi5-rs485", "rpi-zero2w-usb485", "jetson-orin-nano-usbcam"]
EDGEPROOF = str(Path(sys.executable).parent / "edgeproof")


@pytest.mark.parametrize("board", BOARDS)
def test_profile_loads_and_documents_its_wiring(board):
    prof = load_profile(board)
    assert prof.site.id == board and not prof.site.simulated
    text = (PROFILE_DIR / f"{board}.toml").read_text()
    assert "# Wiring" in text and "Twin:" in text
    assert prof.devices and prof.consent


@pytest.mark.parametrize("board", BOARDS)
def test_probe_reads_every_device_of_the_twin(board):
    res = subprocess.run([EDGEPROOF, "probe", "--profile", board, "--simulate", "--json"], capture_output=True,
                         text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    report = json.loads(res.stdout)
    devices = {d["device"]: d for d in report["devices"]}
    assert set(devices) == {d.name for d in load_profile(board).devices if d.enabled}
    assert all(d["ok"] for d in devices.values()), devices


def _has_opencv() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("board", BOARDS)
def test_twin_polls_through_the_gateway(board, tmp_path):
    prof = load_profile(board)
    prof = msgspec.structs.replace(prof, uplink=msgspec.structs.replace(prof.uplink, transport="none"),
                                   status=msgspec.structs.replace(prof.status, bind="127.0.0.1:0"))
    cameras = [d.name for d in prof.devices if d.driver == "camera"]
    if cameras and not _has_opencv():
        pytest.skip("the camera's twin needs OpenCV (edgeproof[vision])")
    init_identity(tmp_path / "state", None, prof.site.id)

    async def go() -> dict:
        gw = Gateway(prof, tmp_path / "state", simulate=True)
        await gw.start()
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                polled = {p.device.name: p.health for p in gw.scheduler.pollers}
                if all(h.polls >= 1 and h.state == "healthy" for h in polled.values()) and _camera_counted(gw):
                    break
                await asyncio.sleep(0.5)
            from gateway.status import collect

            return await asyncio.to_thread(collect.status, gw)
        finally:
            await gw.stop()

    st = asyncio.run(go())
    assert {d["name"] for d in st["devices"]} == {d.name for d in prof.devices if d.enabled}
    for d in st["devices"]:
        assert d["state"] == "healthy" and d["polls"] >= 1, d
        assert any(p["quality"] == "good" for p in d["points"]), d
    for cam in (d for d in st["devices"] if d["name"] in cameras):
        vals = {p["name"]: p["value"] for p in cam["points"]}
        # The twin's clip has cartons crossing the belt line: the camera is up and counting.
        assert vals["camera_up"] == 1.0 and vals["belt_in"] + vals["belt_out"] >= 1, vals


def _camera_counted(gw: Gateway) -> bool:
    """True once every camera has counted at least one crossing (or there is no camera)."""
    for p in gw.scheduler.pollers:
        if p.device.driver == "camera":
            v = p.health.last_values
            if (v.get("belt_in", (0,))[0] or 0) + (v.get("belt_out", (0,))[0] or 0) < 1:
                return False
    return True
