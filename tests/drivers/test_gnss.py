"""GNSS over a real socat pty: NMEA written on one end, pyserial + pynmea2 in the driver
on the other. The driver reports geofence state and exits, never coordinates."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import serial

from drivers.gnss import GnssDriver
from drivers.sim.gnss import corrupt, fix_sentences
from drivers.support.bus import BusHandle
from drivers.support.geofence import inside
from gateway.profile.load import ProfileError, load_profile
from gateway.profile.schema import Bus, Device

FENCE = [[31.2300, 121.4700], [31.2300, 121.4712], [31.2309, 121.4712], [31.2309, 121.4700]]
IN = (31.2304, 121.4706)
OUT = (31.2304, 121.4730)
EDGE_OUT = (31.2304, 121.47121)  # a jittery fix just over the fence line


def driver(port: str, state: Path) -> GnssDriver:
    bus = BusHandle(Bus(name="gnss", kind="serial", port=port, baudrate=9600))
    dev = Device(name="pallet-gnss", driver="gnss", bus="gnss",
                 options={"geofence": FENCE, "confirm_fixes": 2, "state_dir": str(state)})
    return GnssDriver(dev, None, bus, bus.cfg)


CLOCK = [1_790_000_000.0]


def write(tx: serial.Serial, positions: list[tuple[float, float]], **kw: Any) -> None:
    """One epoch (GGA + RMC, one second apart from the previous) per position."""
    for lat, lon in positions:
        CLOCK[0] += 1.0
        tx.write("".join(s + "\r\n" for s in fix_sentences(lat, lon, CLOCK[0], **kw)).encode())
    tx.flush()


def test_geofence_polygon() -> None:
    assert inside(*IN, FENCE) and not inside(*OUT, FENCE) and not inside(*EDGE_OUT, FENCE)


def test_exits_counted_once_jitter_ignored_and_persisted(pty_pair: tuple[str, str], tmp_path: Path) -> None:
    emitter_end, receiver_end = pty_pair
    tx = serial.Serial(emitter_end, 9600, timeout=1)

    async def main() -> list[dict[str, float]]:
        drv = driver(receiver_end, tmp_path)
        await drv.open()
        seen = []
        steps = [
            [IN, IN],                      # inside
            [EDGE_OUT, IN, IN],            # one jittery fix outside: not an exit
            [OUT, OUT, OUT],               # taken out: one exit (confirmed after 2 fixes)
            [IN, OUT, IN, IN],             # back in
        ]
        for positions in steps:
            await asyncio.to_thread(write, tx, positions)
            await asyncio.sleep(0.15)
            seen.append((await drv.timed_read()).values)
        await drv.close()
        return seen

    seen = asyncio.run(main())
    assert [s["inside_geofence"] for s in seen] == [1.0, 1.0, 0.0, 1.0]
    assert [s["geofence_exits"] for s in seen] == [0.0, 0.0, 1.0, 1.0]
    assert all(s["gnss_fix"] == 1.0 for s in seen)
    assert all(set(s) == {"gnss_fix", "inside_geofence", "geofence_exits"} for s in seen)  # no coordinates

    # restart: the exit count continues from the state file
    async def again() -> dict[str, float]:
        drv = driver(receiver_end, tmp_path)
        await drv.open()
        await asyncio.to_thread(write, tx, [IN, IN])
        await asyncio.sleep(0.15)
        values = (await drv.timed_read()).values
        await drv.close()
        return values

    assert asyncio.run(again())["geofence_exits"] == 1.0
    tx.close()


def test_no_fix_is_an_error_row_and_bad_checksums_are_counted(pty_pair: tuple[str, str], tmp_path: Path) -> None:
    emitter_end, receiver_end = pty_pair
    tx = serial.Serial(emitter_end, 9600, timeout=1)

    async def main() -> tuple[Any, GnssDriver]:
        drv = driver(receiver_end, tmp_path)
        await drv.open()
        lines = (fix_sentences(*OUT, 1_700_000_000.0) + [corrupt(s) for s in fix_sentences(*IN, 1_700_000_001.0)]
                 + fix_sentences(*IN, 1_700_000_002.0, fix=False))
        await asyncio.to_thread(tx.write, "".join(s + "\r\n" for s in lines).encode())
        await asyncio.sleep(0.15)
        result = await drv.timed_read()
        await drv.close()
        return result, drv

    result, drv = asyncio.run(main())
    assert drv.errors["crc"] == 2
    # the one valid fix (outside) gives the state; fix-less sentences change nothing
    assert result.values["inside_geofence"] == 0.0 and result.values["geofence_exits"] == 0.0
    tx.close()

    async def covered() -> Any:
        d = driver(receiver_end, tmp_path / "b")
        await d.open()
        tx2 = serial.Serial(emitter_end, 9600, timeout=1)
        await asyncio.to_thread(write, tx2, [IN, IN], fix=False)
        await asyncio.sleep(0.15)
        r = await d.timed_read()
        await d.close()
        tx2.close()
        return r

    r = asyncio.run(covered())
    assert r.values["gnss_fix"] == 0.0
    assert "inside_geofence" not in r.values and r.errors == {"inside_geofence": "no valid GNSS fix"}


def test_geofence_is_validated_at_profile_load(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('[site]\nid = "s"\n[[buses]]\nname = "u"\nkind = "serial"\nport = "/dev/ttyAMA0"\n'
                 '[[devices]]\nname = "g"\ndriver = "gnss"\nbus = "u"\n'
                 'options = { geofence = [[31.23, 121.47], [31.23, 221.0], [31.24, 121.47]] }\n')
    try:
        load_profile(p)
    except ProfileError as exc:
        assert exc.key == "devices[0].options.geofence[1]" and "[lat, lon]" in exc.expected
    else:
        raise AssertionError("an impossible longitude was accepted")
