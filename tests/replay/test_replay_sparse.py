"""Hourly history with a gateway outage and a counter gap, through `edgeproof replay` into a real
receiver and the analysis: missing is never zero, and sparse counters land in the hour they happened.

The history is written here by hand, so every expected number is plain arithmetic: a press runs
08:00-18:00 on weekdays at 20 kW (0.5 kW otherwise) making 120 strokes an hour; its meter and
PLC are read once an hour, at :00. The gateway is off for two days (the MES keeps reporting,
honestly); the PLC's link is down for a few hours one morning while the meter still answers.
The warehouse sensor's ``humidity`` point is declared in the profile but has no column.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cloud_stub.analysis import analyse
from tests.replay.replay_helpers import LiveReceiver, edgeproof, replay_identity, run_replay, start_receiver

TZ = ZoneInfo("Asia/Shanghai")
FIRST = date(2026, 9, 7)  # a Monday
DAYS = 21
OUTAGE = (datetime(2026, 9, 21, 12, tzinfo=TZ), datetime(2026, 9, 23, 10, tzinfo=TZ))  # Mon noon .. Wed 10:00
PLC_GAP_DAY = date(2026, 9, 9)  # Wednesday: no PLC reading at 10, 11, 12, 13:00
PLC_GAP_HOURS = range(10, 14)


def running(t: datetime) -> bool:
    return t.weekday() < 5 and 8 <= t.hour < 18


def write_history(root: Path) -> None:
    root.mkdir()
    kwh, strokes = 10_000.0, 500_000
    meter = [["timestamp", "import_kwh", "power_total"]]
    plc = [["timestamp", "cycles", "running"]]
    climate = [["timestamp", "temperature"]]
    t = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=TZ)
    end = t + timedelta(days=DAYS)
    while t <= end:
        on = running(t)
        stamp = t.isoformat()
        if not OUTAGE[0] <= t < OUTAGE[1]:
            meter.append([stamp, f"{kwh:.3f}", "20.0" if on else "0.5"])
            if not (t.date() == PLC_GAP_DAY and t.hour in PLC_GAP_HOURS):
                plc.append([stamp, str(strokes), "1" if on else "0"])
            climate.append([stamp, "20.0"])
        kwh += 20.0 if on else 0.5  # what the hour starting at t used
        strokes += 120 if on else 0
        t += timedelta(hours=1)
    for name, rows in (("press-1-meter", meter), ("press-1-plc", plc), ("warehouse-climate", climate)):
        with open(root / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
    mes = root / "exports" / "mes-production"
    mes.mkdir(parents=True)
    for i in range(DAYS):
        d = FIRST + timedelta(days=i)
        if d.weekday() >= 5:
            continue
        with open(mes / f"production_{d:%Y%m%d}.csv", "w", encoding="gbk", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["工单号", "日期", "产品", "良品数", "废品数", "计划工时", "实际工时"])
            w.writerow([f"WO-{d:%Y%m%d}", d.isoformat(), "P1", 4800, 0, 720, 600])  # honest: 10 h run


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveReceiver]:
    r = start_receiver(tmp_path_factory.mktemp("receiver"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def replayed(receiver: LiveReceiver, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("sparse")
    write_history(root / "data")
    replay_identity(receiver, root / "state", "ent-sparse", "sparse-history")
    summary = run_replay(receiver, root / "state", root / "data")
    # the latest record per (name, subject, window): a revision supersedes what was sent first
    latest: dict[tuple[str, str, int], dict] = {}
    for b in receiver.batches("sparse-history"):
        for r in b["records"]:
            if r.get("type", "indicator") == "indicator" and "name" in r:
                latest[(r["name"], r["subject"], r["window"]["start"])] = r
    return {"summary": summary, "latest": latest, "root": root}


def _at(day: date, hour: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=TZ).timestamp())


def test_a_point_with_no_column_yields_no_indicators_and_is_listed(replayed: dict) -> None:
    missing = replayed["summary"]["points_without_column"]
    assert missing["warehouse-climate"] == ["humidity"]
    assert "press-1-plc" not in missing  # both its points have a column
    assert "import_kwh" not in missing["press-1-meter"]  # (the model's voltage, frequency... have none)
    assert "pallet-scale" in missing  # a device with no file at all: every point listed
    names = {k[0] for k in replayed["latest"]}
    assert not any(n.startswith("env.rh_pct") for n in names)  # from the missing column: nothing, not zeros
    assert {"env.temp_c_mean", "env.temp_c_outside_min", "energy.kwh", "machine.cycles",
            "machine.runtime_min"} <= names


def test_the_command_notes_columnless_points_on_stderr(receiver: LiveReceiver, replayed: dict) -> None:
    """Running the same command again (the history was replayed whole: only the outbox is sent)
    prints the same key and the human note."""
    proc = edgeproof("replay", "--profile", "sim-history", "--data", str(replayed["root"] / "data"), "--state",
                     str(replayed["root"] / "state"), "--receiver", receiver.url)
    assert json.loads(proc.stdout)["points_without_column"]["warehouse-climate"] == ["humidity"]
    assert "note: warehouse-climate: no column in the data for humidity" in proc.stderr


def test_hourly_snapshots_book_energy_and_strokes_to_the_hour_they_happened(replayed: dict) -> None:
    latest = replayed["latest"]
    day = date(2026, 9, 8)  # a plain Tuesday
    for hour, kwh, strokes in ((7, 0.5, 0), (8, 20.0, 120), (17, 20.0, 120), (18, 0.5, 0)):
        e = latest[("energy.kwh", "press-1", _at(day, hour))]
        c = latest[("machine.cycles", "press-1", _at(day, hour))]
        assert (e["value"], c["value"]) == (pytest.approx(kwh), strokes), (hour, e, c)
        assert "partial_coverage" not in e["q"]
    # the evening shift's last hour stays on its day: the day's total is 10 h x 20 + 14 h x 0.5
    total = sum(latest[("energy.kwh", "press-1", _at(day, h))]["value"] for h in range(24))
    assert total == pytest.approx(207.0)


def test_a_plc_gap_is_spread_over_the_gap_and_flagged_not_a_spike(replayed: dict) -> None:
    latest = replayed["latest"]
    got = [latest[("machine.cycles", "press-1", _at(PLC_GAP_DAY, h))] for h in range(8, 16)]
    assert [r["value"] for r in got] == [120] * 8  # 09:00-14:00 spread evenly, no 600 at 14:00
    for r in got[1:6]:  # 09:00 .. 13:00 windows are spanned by the 09:00 -> 14:00 interval
        assert "gap_interpolated" in r["q"], r


def test_gateway_off_is_not_observed_not_a_stopped_machine(replayed: dict) -> None:
    latest = replayed["latest"]
    for name in ("machine.on_minutes", "machine.runtime_min"):
        inside = [latest[(name, "press-1", w)] for w in range(int(OUTAGE[0].timestamp()) + 4 * 3600,
                                                              int(OUTAGE[1].timestamp()), 3600)]
        assert inside and all(r["value"] is None and "no_data" in r["q"] for r in inside), name
    avail = [r for (n, _s, w), r in latest.items() if n == "machine.availability_pct"
             and OUTAGE[0].timestamp() + 4 * 3600 <= w < OUTAGE[1].timestamp()]
    assert avail and all(r["value"] is None for r in avail)
    # and the meter's increase over the gap (from its last reading at 11:00 to the first at 10:00
    # two days later) is spread over the gap's 47 hours when it reads again, flagged
    spread = [latest[("energy.kwh", "press-1", w)] for w in range(int(OUTAGE[0].timestamp()) - 3600,
                                                                  int(OUTAGE[1].timestamp()), 3600)]
    assert all("gap_interpolated" in r["q"] for r in spread), [r for r in spread if "gap_interpolated" not in r["q"]]
    used = (7 * 20.0 + 6 * 0.5) + (10 * 20.0 + 14 * 0.5) + (8 * 0.5 + 2 * 20.0)  # Mon 11-24, Tue, Wed 0-10
    assert [r["value"] for r in spread] == [pytest.approx(used / 47, abs=1e-5)] * 47


def test_machine_time_vs_mes_does_not_raise_against_an_honest_mes_across_the_outage(
        receiver: LiveReceiver, replayed: dict) -> None:
    end = FIRST + timedelta(days=DAYS)
    as_of = int(datetime(end.year, end.month, end.day, tzinfo=TZ).timestamp())
    report = analyse(receiver.rdb, "ent-sparse", as_of=as_of, days=DAYS, signing_key=receiver.key)
    found = [(f["rule"], f["severity"]) for f in report["findings"] if f["rule"] == "machine_time_vs_mes"]
    assert found == [], json.dumps([f for f in report["findings"] if f["rule"] == "machine_time_vs_mes"])[:2000]
