"""The replay data folder: every kind of bad input is named by file, line and column, before
anything is stored or sent; outages are told apart from a single silent device."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.profile import load_profile
from gateway.replay.data import ReplayDataError, parse_timestamp, scan
from gateway.replay.session import profile_points
from tests.replay.replay_helpers import edgeproof, replay_identity, start_receiver

PROFILE = load_profile("sim-history")
FOLDERS = ["mes-production", "erp-orders", "erp-shipments", "wms-stock-moves"]


@pytest.fixture(scope="module")
def points(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    pts = asyncio.run(profile_points(PROFILE, tmp_path_factory.mktemp("state")))
    return {n: [p.name for p in ps] for n, ps in pts.items()}


def meter_rows(n: int, start: int = 1788739200, step: int = 300) -> list[str]:
    return [f"{start + i * step},{1000 + i * 0.5:.1f},{6.0:.1f}" for i in range(n)]


def write(d: Path, name: str, header: str, rows: list[str]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return p


def test_epoch_seconds_and_iso_with_offset_are_the_same_instant() -> None:
    assert parse_timestamp("2026-09-07T08:00:00+08:00") == parse_timestamp("1788739200") == 1788739200.0
    assert parse_timestamp("2026-09-07T00:00:00Z") == 1788739200.0
    assert parse_timestamp("1788739200.5") == 1788739200.5


def test_a_good_folder_scans_with_its_cadence_span_and_hash(tmp_path: Path, points) -> None:
    write(tmp_path, "press-1-meter.csv", "timestamp,import_kwh,power_total", meter_rows(12))
    write(tmp_path, "warehouse-climate.csv", "timestamp,temperature",
          [f"2026-09-07T08:{m:02d}:00+08:00,21.5" for m in range(0, 60, 10)])
    (tmp_path / "exports" / "mes-production").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("ignored: not a CSV, not in the hash")
    data = scan(tmp_path, points, FOLDERS)
    meter = data.devices["press-1-meter"]
    assert (meter.rows, meter.interval_s, meter.columns) == (12, 300.0, ["import_kwh", "power_total"])
    assert data.devices["warehouse-climate"].interval_s == 600.0
    assert data.start == 1788739200 and data.end == 1788739200 + 11 * 300
    assert set(data.exports) == {"mes-production"}
    assert len(data.sha256) == 64
    (tmp_path / "notes.txt").write_text("changed")
    assert scan(tmp_path, points, FOLDERS).sha256 == data.sha256
    write(tmp_path, "press-1-meter.csv", "timestamp,import_kwh,power_total", meter_rows(13))
    assert scan(tmp_path, points, FOLDERS).sha256 != data.sha256


BAD = [
    # (file name, header, rows, expected fragments of the message)
    ("press-9-meter.csv", "timestamp,import_kwh", ["1788739200,1"], ["press-9-meter.csv", "no device 'press-9-meter'"]),
    ("press-1-meter.csv", "timestamp,import_kwh,kwh_total", ["1788739200,1,2"],
     ["press-1-meter.csv:1", "column 'kwh_total'", "not a point of device 'press-1-meter'", "import_kwh"]),
    ("press-1-meter.csv", "time,import_kwh", ["1788739200,1"], ["press-1-meter.csv:1", "'timestamp'"]),
    ("press-1-meter.csv", "timestamp,import_kwh,import_kwh", ["1788739200,1,1"], ["column 'import_kwh'", "twice"]),
    ("press-1-meter.csv", "timestamp,import_kwh", ["1788739200,1", "2026-09-07 08:05:00,2"],
     ["press-1-meter.csv:3", "column 'timestamp'", "no UTC offset"]),
    ("press-1-meter.csv", "timestamp,import_kwh", ["1788739200,1", "yesterday,2"],
     ["press-1-meter.csv:3", "column 'timestamp'", "not a timestamp"]),
    ("press-1-meter.csv", "timestamp,import_kwh", ["1788739200000,1"],
     ["press-1-meter.csv:2", "column 'timestamp'", "milliseconds"]),
    ("press-1-meter.csv", "timestamp,import_kwh", ["1788739200,1", "1788739500,2", "1788739500,3"],
     ["press-1-meter.csv:4", "column 'timestamp'", "strictly increasing"]),
    ("press-1-meter.csv", "timestamp,import_kwh", ["1788739200,1", "1788739100,2"],
     ["press-1-meter.csv:3", "column 'timestamp'", "not after"]),
    ("press-1-meter.csv", "timestamp,import_kwh,power_total", ["1788739200,1,2", "1788739500,1.5,n/a"],
     ["press-1-meter.csv:3", "column 'power_total'", "not a number: 'n/a'"]),
    ("press-1-meter.csv", "timestamp,import_kwh,power_total", ["1788739200,1"], ["press-1-meter.csv:2", "2 cells"]),
    ("press-1-meter.csv", "timestamp,import_kwh", [], ["press-1-meter.csv", "no data rows"]),
]


@pytest.mark.parametrize(("name", "header", "rows", "expected"), BAD, ids=[
    "unknown-device", "unknown-column", "no-timestamp-column", "duplicate-column", "naive-time", "garbage-time",
    "milliseconds", "repeated-time", "backwards-time", "not-a-number", "short-row", "no-rows"])
def test_bad_device_files_are_named_by_file_line_and_column(tmp_path: Path, points, name, header, rows,
                                                           expected) -> None:
    write(tmp_path, name, header, rows)
    with pytest.raises(ReplayDataError) as err:
        scan(tmp_path, points, FOLDERS)
    for fragment in expected:
        assert fragment in str(err.value)


def test_bad_folders_are_named(tmp_path: Path, points) -> None:
    write(tmp_path, "press-1-meter.csv", "timestamp,import_kwh", ["1788739200,1"])
    (tmp_path / "exports" / "sap-dump").mkdir(parents=True)
    with pytest.raises(ReplayDataError, match=r"sap-dump: not a folder connector of the profile.*mes-production"):
        scan(tmp_path, points, FOLDERS)
    (tmp_path / "exports" / "sap-dump").rmdir()
    (tmp_path / "mes").mkdir()
    with pytest.raises(ReplayDataError, match=r"mes: unexpected folder"):
        scan(tmp_path, points, FOLDERS)
    (tmp_path / "mes").rmdir()
    (tmp_path / "press-1-meter.csv").unlink()
    with pytest.raises(ReplayDataError, match="no device CSV"):
        scan(tmp_path, points, FOLDERS)


def test_every_device_silent_is_an_outage_one_device_silent_is_not(tmp_path: Path, points) -> None:
    day = 1788739200
    hours = [day + i * 300 for i in range(12 * 24)]
    gap = range(day + 6 * 3600, day + 12 * 3600)  # 6 h with no rows from the meter
    write(tmp_path, "press-1-meter.csv", "timestamp,import_kwh",
          [f"{t},{i}" for i, t in enumerate(hours) if t not in gap])
    write(tmp_path, "press-1-plc.csv", "timestamp,cycles", [f"{t},{i}" for i, t in enumerate(hours)])
    data = scan(tmp_path, points, FOLDERS)
    assert data.up == [(data.start, data.end)], "the PLC kept answering: the gateway was up"
    write(tmp_path, "press-1-plc.csv", "timestamp,cycles", [f"{t},{i}" for i, t in enumerate(hours) if t not in gap])
    data = scan(tmp_path, points, FOLDERS)
    assert len(data.up) == 2
    (a, b), (c, d) = data.up
    assert (b, c) == (day + 6 * 3600 - 300, day + 12 * 3600)
    assert a == data.start and d == data.end


def test_bad_data_stops_the_replay_before_anything_is_stored_or_sent(tmp_path: Path) -> None:
    """Validation reads every file to the end first: an error on the last line leaves no trace."""
    receiver = start_receiver(tmp_path / "receiver")
    try:
        state = tmp_path / "replay-state"
        replay_identity(receiver, state, "ent-bad", "bad-history")
        data = tmp_path / "data"
        rows = meter_rows(2000)
        rows[-1] = rows[-1].replace(",6.0", ",six")
        write(data, "press-1-meter.csv", "timestamp,import_kwh,power_total", rows)
        proc = edgeproof("replay", "--profile", "sim-history", "--data", str(data), "--state", str(state),
                         "--receiver", receiver.url, check=False)
        assert proc.returncode == 1
        assert "press-1-meter.csv:2001: column 'power_total': not a number: 'six'" in proc.stderr
        assert not (state / "edgeproof.db").exists()
        assert receiver.batches("bad-history") == []
    finally:
        receiver.stop()


def test_a_down_threshold_below_the_cadence_is_refused(tmp_path: Path, points) -> None:
    write(tmp_path, "press-1-meter.csv", "timestamp,import_kwh", [f"{1788739200 + i * 300},{i}" for i in range(10)])
    with pytest.raises(ReplayDataError, match=r"press-1-meter.csv: column 'timestamp': a down threshold of 400 s"):
        scan(tmp_path, points, FOLDERS, down_after_s=400)
    assert len(scan(tmp_path, points, FOLDERS, down_after_s=600).up) == 1
