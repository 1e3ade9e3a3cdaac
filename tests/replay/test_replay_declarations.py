"""`DIR/declarations.csv`: declared events of a replayed history become signed declarations
at their declared time, through the real CLI into a real receiver."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_stub.declarations import load_declarations
from gateway.replay import declarations as replay_decl
from gateway.replay.data import ReplayDataError
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from tests.replay.replay_helpers import data_sha256, replay_identity, run_replay, start_receiver

CSV = """kind,from,to,assets,declared_at,note,withdrawn_at
maintenance,2026-09-08T08:00:00+08:00,2026-09-08T12:00:00+08:00,press-1;press-2,2026-09-01T09:00:00+08:00,\
"annual service, Li Wei",
holiday,2026-09-09,2026-09-10,,2026-09-08T18:30:00+08:00,,2026-09-09T09:00:00+08:00
"""


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_declarations_csv_is_replayed_as_signed_declarations_at_their_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_scenario(ScenarioConfig(scenario="honest", days=3, seed=7, interval_s=600), data)
    (data / "declarations.csv").write_text(CSV, encoding="utf-8")
    receiver = start_receiver(tmp_path / "receiver")
    try:
        state = tmp_path / "history"
        replay_identity(receiver, state, "ent-decl", "decl-history")
        out = run_replay(receiver, state, data, "--pack-every", "1h")
        assert out["declarations"] == {"declared": 2, "withdrawn": 1}
        assert out["replay"]["data_sha256"] == data_sha256(data)  # the documented recipe covers the file
        batches = receiver.batches("decl-history")
        found = [(b, r) for b in batches for r in b["records"] if r["type"] == "declaration"]
        assert [r["name"] for _, r in found] == ["declaration.declare", "declaration.declare", "declaration.withdraw"]
        (b1, m), (b2, h), (b3, w) = found
        assert m["kind"] == "maintenance" and m["assets"] == ["press-1", "press-2"]
        assert m["declared_at"] == "2026-09-01T01:00:00Z" and m["from"] == "2026-09-08T00:00:00Z"
        assert m["note_token"].startswith("x_") and "Li Wei" not in json.dumps(batches, ensure_ascii=False)
        # A plain date is the site's day (sim-history is at Asia/Shanghai).
        assert h["declared_at"] == "2026-09-08T10:30:00Z" and h["from"] == "2026-09-08T16:00:00Z"
        assert h["window"] == {"start": int(ts("2026-09-08T16:00:00Z")), "len": 86400}
        assert w["withdraws"] == h["id"] and w["declared_at"] == "2026-09-09T01:00:00Z"
        # Each is signed at the first packing step after its declared time, never before it.
        for b, r in found:
            assert ts(r["declared_at"]) <= ts(b["created"]) <= ts(r["declared_at"]) + 3600 + 600 \
                or ts(r["declared_at"]) < ts(out["replay"]["from"])
        assert b1["replay"] == out["replay"] and len(b2["records"]) == 1 and b3["seq"] > b2["seq"]
        with receiver.rdb.read() as conn:
            ds = load_declarations(conn, "ent-decl", int(ts("2026-09-06T16:00:00Z")), int(ts("2026-09-10T16:00:00Z")),
                                   10**9)
        assert [(d.kind, d.replayed, d.late, d.withdrawn_at is not None) for d in ds.items] == [
            ("maintenance", True, False, False), ("holiday", True, False, True)]
        # Running the same command again adds nothing twice.
        again = run_replay(receiver, state, data)
        assert again["resent_only"] is True
    finally:
        receiver.stop()


@pytest.mark.parametrize(("text", "line", "column", "words"), [
    ("kind,from,to,declared_at\nnap,2026-09-08,2026-09-09,2026-09-01\n", 2, "kind", "one of planned_downtime"),
    ("kind,from,to,declared_at\nholiday,2026-09-09,2026-09-08,2026-09-01\n", 2, "to", "a time after from"),
    ("kind,from,to,declared_at\nholiday,2026-09-08,2026-09-09,2026-09-01T08:00:00\n", 2, "declared_at",
     "UTC offset"),
    ("kind,from,to,declared_at\nholiday,2026-09-08,2026-09-09,2027-01-01\n", 2, "declared_at", "within the history"),
    ("kind,from,to\nholiday,2026-09-08,2026-09-09\n", 1, "declared_at", "a column"),
    ("kind,from,to,declared_at,colour\n", 1, "colour", "not a declarations column"),
    ("kind,from,to,declared_at,withdrawn_at\nholiday,2026-09-08,2026-09-09,2026-09-01,2026-08-01\n", 2,
     "withdrawn_at", "after declared_at"),
])
def test_a_bad_declarations_file_names_file_line_and_column(tmp_path: Path, text: str, line: int, column: str,
                                                            words: str) -> None:
    p = tmp_path / "declarations.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ReplayDataError) as err:
        replay_decl.read(p, history_end=ts("2026-09-10T00:00:00Z"))
    assert (err.value.file, err.value.line, err.value.column) == (str(p), line, column)
    assert words in err.value.message


def test_the_scan_keeps_declarations_csv_apart_from_device_files_and_hashes_it(tmp_path: Path) -> None:
    from gateway.replay.data import scan

    data = tmp_path / "d"
    write_scenario(ScenarioConfig(scenario="honest", days=1, seed=3, interval_s=600), data)
    devices = {p.stem: next(iter(p.open())).strip().split(",")[1:] for p in data.glob("*.csv")}
    conns = ["mes-production", "erp-orders", "erp-shipments", "wms-stock-moves"]
    before = scan(data, devices, conns).sha256
    (data / "declarations.csv").write_text("kind,from,to,declared_at\nstocktake,2026-09-07,2026-09-08,2026-09-01\n",
                                           encoding="utf-8")
    got = scan(data, devices, conns)
    assert "declarations" not in got.devices and got.sha256 != before and got.sha256 == data_sha256(data)


def test_plain_dates_are_the_sites_days(tmp_path: Path) -> None:
    p = tmp_path / "declarations.csv"
    p.write_text("kind,from,to,declared_at\nholiday,2026-10-01,2026-10-08,2026-09-20\n", encoding="utf-8")
    (d,) = replay_decl.read(p, tz=ZoneInfo("Asia/Shanghai"))
    assert (d.decl.start, d.decl.end, d.declared_at) == (ts("2026-09-30T16:00:00Z"), ts("2026-10-07T16:00:00Z"),
                                                         ts("2026-09-19T16:00:00Z"))


cells = st.one_of(st.text(max_size=30), st.sampled_from(["holiday", "maintenance", "2026-09-08", "2026-09-09",
                                                         "2026-09-08T08:00:00+08:00", "", "press-1;press-2"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.fixed_dictionaries({c: cells for c in ("kind", "from", "to", "declared_at", "assets", "note",
                                                      "withdrawn_at")}))
def test_any_row_is_a_declaration_or_an_error_naming_line_and_column(tmp_path: Path, row: dict[str, str]) -> None:
    p = tmp_path / "declarations.csv"
    with open(p, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    try:
        (d,) = replay_decl.read(p, history_end=ts("2026-09-10T00:00:00Z"))
    except ReplayDataError as exc:
        assert exc.file == str(p) and exc.message
        assert exc.column in (*row, "id", None) and exc.line >= 0
    else:
        assert d.decl.end > d.decl.start and d.declared_at <= ts("2026-09-10T00:00:00Z")
        assert d.withdrawn_at is None or d.withdrawn_at > d.declared_at


def test_a_replayed_declared_holiday_reaches_the_rules(tmp_path: Path) -> None:
    """28 honest days around National Day (sim-history's holidays) replayed with the holiday
    declared in advance: `cloud analyse`'s rules see the replayed declaration."""
    from cloud_stub.analysis import run_analysis

    data = tmp_path / "data"
    write_scenario(ScenarioConfig(scenario="honest", days=28, seed=5, interval_s=1800, start=date(2026, 9, 14)), data)
    (data / "declarations.csv").write_text("kind,from,to,declared_at,note\n"
                                           "holiday,2026-10-01,2026-10-08,2026-09-15T09:00:00+08:00,国庆\n",
                                           encoding="utf-8")
    receiver = start_receiver(tmp_path / "receiver")
    try:
        state = tmp_path / "history"
        replay_identity(receiver, state, "ent-hol", "hol-history")
        out = run_replay(receiver, state, data, "--pack-every", "1d")
        assert out["declarations"] == {"declared": 1, "withdrawn": 0}
        a = run_analysis(receiver.rdb, "ent-hol", int(ts("2026-10-11T16:00:00Z")), 28)
    finally:
        receiver.stop()
    rep = a.report
    assert rep["rules"]["changepoints"] == 2 and rep["rules"]["declarations"] == 1
    stop = [f for f in rep["findings"] if f["rule"] == "changepoints" and f["key"].startswith("stoppage")]
    assert stop and stop[0]["severity"] == "info" and stop[0]["compared"]["declarations"] == ["hol-history/1"]
    assert stop[0]["compared"]["declared_days"] >= 7
    assert [f for f in rep["findings"] if f["rule"] == "declarations"] == []  # announced ahead, no claims in it
