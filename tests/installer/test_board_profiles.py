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


def _jetson_clip(tmp_path: Path) -> tuple[Path, dict[str, int]] | None:
    try:
        import cv2  # noqa: F401

        from inference import synthetic as syn
    except ImportError:
        return None
    crossings = [syn.Crossing(5, 30, 100, "in", 0), syn.Crossing(45, 30, 250, "out", 1),
                 syn.Crossing(85, 25, 180, "in", 2)]
    path = tmp_path / "belt.avi"
    syn.write_video(path, syn.render(crossings, syn.product_sprites(), 140), fps=10)
    return path, syn.truth(crossings)


@pytest.mark.parametrize("board", BOARDS)
def test_twin_polls_through_the_gateway(board, tmp_path):
    prof = load_profile(board)
    prof = msgspec.structs.replace(prof, uplink=msgspec.structs.replace(prof.uplink, transport="none"),
                                   status=msgspec.structs.replace(prof.status, bind="127.0.0.1:0"))
    truth = None
    if board.startswith("jetson"):
        clip = _jetson_clip(tmp_path)
        if clip is None:
            pytest.skip("the camera's twin needs OpenCV (edgeproof[vision])")
        path, truth = clip
        devs = [msgspec.structs.replace(d, options={**d.options, "source": str(path), "realtime": False})
                if d.driver == "camera" else d for d in prof.devices]
        prof = msgspec.structs.replace(prof, devices=devs)
    init_identity(tmp_path / "state", None, prof.site.id)

    async def go() -> dict:
        gw = Gateway(prof, tmp_path / "state", simulate=True)
        await gw.start()
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                polled = {p.device.name: p.health for p in gw.scheduler.pollers}
                if all(h.polls >= 1 and h.state == "healthy" for h in polled.values()) and (
                        truth is None or _camera_done(gw, truth)):
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
    if truth is not None:
        cam = next(d for d in st["devices"] if d["name"] == "line-camera")
        vals = {p["name"]: p["value"] for p in cam["points"]}
        assert (vals["belt_in"], vals["belt_out"]) == (truth["in"], truth["out"])


def _camera_done(gw: Gateway, truth: dict[str, int]) -> bool:
    for p in gw.scheduler.pollers:
        if p.device.driver == "camera":
            v = p.health.last_values
            return (v.get("belt_in", (None,))[0], v.get("belt_out", (None,))[0]) == (truth["in"], truth["out"])
    return True
