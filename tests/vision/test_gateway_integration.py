"""The camera as a gateway device (Driver interface, profile options) and the vision
indicators computed from its points with the counter-delta convention."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from drivers.camera import DRIVER, Options, check_device
from drivers.support.base import DriverError
from gateway.indicators.base import DeviceWindow, Series, WindowContext
from gateway.indicators.registry import all_indicators
from gateway.profile.load import load_driver_module, load_profile
from gateway.profile.schema import Device


def _device(**options) -> Device:
    return Device(name="cam", driver="camera", asset="line1", poll_interval_s=1.0, options=options)


def test_driver_found_by_module_name():
    mod = load_driver_module("camera")
    assert mod.DRIVER is DRIVER and mod.Options is Options


def test_points_and_meanings():
    dev = _device(source="x.avi", model="motion", people_model="person",
                  lines=[{"name": "belt", "line": [0.5, 0, 0.5, 1]},
                         {"name": "door", "line": [0, 0.5, 1, 0.5]}])
    pts = {p.name: p for p in DRIVER(dev, None, None, None).points()}
    assert pts["belt_in"].meaning == "vision.units_in" and pts["belt_in"].counter
    assert pts["door_out"].meaning == "vision.units_out" and pts["door_out"].counter
    assert pts["people_present"].meaning == "vision.people_present" and not pts["people_present"].counter
    assert pts["safety_events"].counter
    assert pts["line_active"].meaning == "vision.line_active"
    assert pts["camera_up"].meaning == "vision.camera_up"


def test_read_counts_from_a_file(product_clip):
    dev = _device(source=str(product_clip[0]), model="motion", realtime=False,
                  lines=[{"name": "belt", "line": [320, 0, 320, 480]}])
    drv = DRIVER(dev, None, None, None)

    async def go():
        await drv.open()
        assert drv.runner.wait_finished(30)
        res = await drv.timed_read()
        await drv.close()
        return res

    res = asyncio.run(go())
    assert res.values["belt_in"] == 3.0 and res.values["belt_out"] == 2.0
    assert res.values["camera_up"] == 0.0  # the file ended
    assert "line_active" in res.errors


def test_camera_down_is_reported_not_raised(tmp_path):
    dev = _device(source=str(tmp_path / "gone"), model="motion", backoff_max_s=0.1,
                  lines=[{"name": "belt", "line": [0.5, 0, 0.5, 1]}])
    drv = DRIVER(dev, None, None, None)

    async def go():
        await drv.open()
        await asyncio.sleep(0.3)
        res = await drv.read()
        await drv.close()
        return res

    res = asyncio.run(go())
    assert res.values == {"belt_in": 0.0, "belt_out": 0.0, "camera_up": 0.0}
    assert str(tmp_path / "gone") in res.errors["line_active"]


def test_bad_model_is_a_driver_error_naming_the_file(tmp_path):
    bad = tmp_path / "m.tflite"
    bad.write_bytes(b"garbage")
    (tmp_path / "m.toml").write_text('name = "m"\nfile = "m.tflite"\n[decoder]\nkind = "ssd"\n')
    drv = DRIVER(_device(source="0", model=str(tmp_path / "m.toml")), None, None, None)
    with pytest.raises(DriverError) as exc:
        asyncio.run(drv.open())
    assert str(bad) in str(exc.value)


def test_options_checks():
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"source": "0", "lines": [{"name": "a", "line": [1, 2, 3]}]}, Options, strict=True)
    assert check_device(_device(source="0", model="nope"), None, None)[0] == "options.model"
    assert check_device(_device(source="0", zones=[{"name": "z", "kind": "danger",
                                                     "polygon": [[0, 0], [1, 0], [1, 1]]}]), None, None)[0] \
        == "options.people_model"
    assert check_device(_device(source="0", model="person", lines=[{"name": "a", "line": [0, 0, 1, 1]}]),
                        None, None) is None


def test_profile_with_a_camera_loads(tmp_path):
    p = tmp_path / "site.toml"
    p.write_text("""
[site]
id = "t1"

[[devices]]
name = "cam-door"
driver = "camera"
asset = "warehouse"
[devices.options]
source = "rtsp://cam.lan/stream1"
model = "motion"
people_model = "person"
[[devices.options.lines]]
name = "door"
line = [0.5, 0, 0.5, 1]
[[devices.options.zones]]
name = "forklift"
kind = "danger"
polygon = [[0.6, 0.5], [1, 0.5], [1, 1]]
""")
    prof = load_profile(p)
    assert prof.devices[0].driver == "camera"


# -- indicators -------------------------------------------------------------------------

def _ctx(meaning, ts, values, before=None, counter=False, start=0.0, length=900.0, poll=60.0, after=None):
    s = Series(ts=list(ts), values=list(values), quality=["good"] * len(ts), before=before, counter=counter,
               after=after)
    return WindowContext(asset="line1", start=start, length=length, series={meaning: s},
                         devices=[DeviceWindow("cam", poll, int(length / poll), len(ts), 0, 1)])


def test_indicators_registered():
    names = set(all_indicators())
    assert {"vision.units_in", "vision.units_out", "vision.people_mean", "vision.people_max",
            "vision.line_active_min", "vision.safety_events", "vision.camera_uptime_pct"} <= names
    assert all(all_indicators()[n].category == "vision" for n in names if n.startswith("vision."))


def test_units_counter_delta_with_before_and_restart():
    ind = all_indicators()["vision.units_in"]
    # 10 before the window, 12, 15, then the pipeline restarted (0 -> 3), then 4: 2+3+3+1 = 9
    ctx = _ctx("vision.units_in", [60, 120, 180, 240], [12, 15, 3, 4], before=(0.0, 10.0), counter=True)
    [v] = ind.compute(ctx)
    assert v.value == 9 and "counter_reset" in v.quality
    [v] = ind.compute(_ctx("vision.units_in", [60, 120], [5, 7], counter=True))
    assert v.value == 2 and "no_baseline" in v.quality


def test_two_lines_on_one_camera_are_reported_separately():
    ind = all_indicators()["vision.units_in"]
    door = Series(ts=[60, 120], values=[3, 5], quality=["good"] * 2, before=(0.0, 1.0), counter=True)
    belt = Series(ts=[60, 120], values=[10, 17], quality=["good"] * 2, before=(0.0, 10.0), counter=True)
    ctx = WindowContext(asset="hall", start=0.0, length=900.0, series={"vision.units_in": door},
                        devices=[DeviceWindow("cam", 60, 15, 2, 0, 2)],
                        series_by_point={"vision.units_in": {"door_in": door, "belt_in": belt}})
    got = {v.subject: v.value for v in ind.compute(ctx)}
    assert got == {"hall/belt": 7, "hall/door": 4}


def test_people_mean_max_and_safety():
    inds = all_indicators()
    ctx = _ctx("vision.people_present", [0, 300, 600], [1, 3, 2])
    assert inds["vision.people_mean"].compute(ctx)[0].value == 2
    assert inds["vision.people_max"].compute(ctx)[0].value == 3
    ctx = _ctx("vision.safety_events", [0, 300, 600], [1, 1, 2], before=(-60, 1), counter=True)
    assert inds["vision.safety_events"].compute(ctx)[0].value == 1


def test_line_active_minutes_and_uptime():
    inds = all_indicators()
    ts = list(range(0, 900, 60))
    active = [1 if 300 <= t < 600 else 0 for t in ts]
    [v] = inds["vision.line_active_min"].compute(_ctx("vision.line_active", ts, active))
    assert v.value == 5.0 and v.quality == []
    up = [1] * 10 + [0] * 5  # down for the last 5 minutes
    [v] = inds["vision.camera_uptime_pct"].compute(_ctx("vision.camera_up", ts, up))
    assert v.value == pytest.approx(100 * 600 / 900, abs=0.01)
    # readings stop after 5 minutes (gateway off): the rest is not observed, not downtime;
    # the uptime is over the observed 6 minutes (4 polls + 2 held), coverage says how little that is
    [v] = inds["vision.camera_uptime_pct"].compute(_ctx("vision.camera_up", ts[:5], [1] * 5))
    assert v.value == pytest.approx(100.0) and "partial" in v.quality and "partial_coverage" in v.quality
    assert v.detail["coverage"] == pytest.approx((240 + 120) / 900, abs=1e-3)
    [v] = inds["vision.camera_uptime_pct"].compute(_ctx("vision.camera_up", [], []))
    assert v.value is None and v.quality == ["no_data"]


def test_driver_poll_to_indicator(product_clip):
    """Points read from the driver feed the indicator exactly like any other counter."""
    dev = _device(source=str(product_clip[0]), model="motion", realtime=False,
                  lines=[{"name": "belt", "line": [320, 0, 320, 480]}])
    drv = DRIVER(dev, None, None, None)
    readings = []

    async def go():
        await drv.open()
        t0 = time.monotonic()
        while drv.runner.running and time.monotonic() - t0 < 30:
            readings.append((await drv.read()).values["belt_in"])
            await asyncio.sleep(0.01)
        readings.append((await drv.read()).values["belt_in"])
        await drv.close()

    asyncio.run(go())
    ctx = _ctx("vision.units_in", range(len(readings)), readings, before=(-1.0, 0.0), counter=True,
               length=float(len(readings) + 1), poll=1.0)
    assert all_indicators()["vision.units_in"].compute(ctx)[0].value == 3


def test_gateway_stays_light_without_vision():
    """Loading the driver, indicators and CLI group imports no NumPy/OpenCV/TFLite runtime."""
    import subprocess
    import sys

    code = ("import sys, drivers.camera, gateway.indicators.vision, gateway.commands.vision; "
            "print(sorted(m for m in ('numpy', 'cv2', 'ai_edge_litert', 'tflite_runtime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
