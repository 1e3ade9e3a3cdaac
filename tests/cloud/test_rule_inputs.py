"""The evidence loader: bounds, live over replayed, revisions, day alignment and the input digest."""

from __future__ import annotations

import numpy as np
import pytest
from cloud_helpers import FakeGateway
from rule_inputs_helpers import DAY0, H, enrolled, evidence, push, rec

from cloud_stub.db import ReceiverDB
from cloud_stub.rule_inputs import load_rule_inputs, pick_length


@pytest.fixture
def rdb(tmp_path):
    db = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    yield db
    db.close()


def day_records(day: int, kwh: float = 10.0, length: int = H) -> list[dict]:
    start = DAY0 + day * 86400
    return [rec("energy.kwh", "energy", "press-1", start + i * length, length, kwh, "kWh")
            for i in range(86400 // length)]


def test_daily_sums_align_gateway_windows_to_local_days(rdb):
    gw = enrolled(rdb, FakeGateway())
    recs = day_records(0) + day_records(1, 5.0) + day_records(1, 1.25, 900)  # 1 h and 15 min copies of day 1
    recs += [rec("mes.good_qty", "mes", "enterprise", DAY0 + d * 86400, 86400, 100.0 * (d + 1), "count",
                 detail={"period": "day"}) for d in range(3)]
    recs += [rec("mes.good_qty", "mes", "enterprise", DAY0, 30 * 86400, 999.0, "count", detail={"period": "month"})]
    push(rdb, gw, recs)
    ev = evidence(rdb, days=30)
    starts, lens = ev.day_windows()
    assert starts.tolist() == [DAY0, DAY0 + 86400, DAY0 + 2 * 86400] and set(lens.tolist()) == {86400}
    d = ev.daily("energy.kwh")
    assert d.value.tolist() == [240.0, 120.0, 0.0]  # hourly copy used, 15-min copy not added on top
    assert d.coverage.tolist() == [1.0, 1.0, 0.0]
    assert ev.enterprise_daily("mes.good_qty").tolist() == [100.0, 200.0, 300.0]  # the month is not a day


def test_live_beats_replayed_and_the_latest_revision_wins(rdb):
    live = enrolled(rdb, FakeGateway("gw-live"))
    replay = enrolled(rdb, FakeGateway("gw-replay"))
    w = DAY0
    push(rdb, replay, [rec("energy.kwh", "energy", "press-1", w, H, 99.0, "kWh"),
                       rec("energy.kwh", "energy", "press-1", w + H, H, 7.0, "kWh")],
         replay={"run": "r1"})
    push(rdb, live, [rec("energy.kwh", "energy", "press-1", w, H, 5.0, "kWh")])
    push(rdb, live, [rec("mes.good_qty", "mes", "enterprise", w, 86400, 100.0, "count")])
    push(rdb, live, [rec("mes.good_qty", "mes", "enterprise", w, 86400, 120.0, "count", q=["revised"],
                         detail={"period": "day", "rev": 2})])
    ev = evidence(rdb, days=1)
    s = ev.series("energy.kwh", "press-1", H)
    assert s.value.tolist() == [5.0, 7.0]  # live for the first hour, replayed where nothing live exists
    assert s.replayed.tolist() == [False, True]
    assert ev.enterprise_daily("mes.good_qty").tolist() == [120.0]


def test_bounds_select_the_same_inputs_and_digest_later(rdb):
    gw = enrolled(rdb, FakeGateway())
    push(rdb, gw, day_records(0))
    with rdb.read() as conn:
        max_rec = conn.execute("SELECT max(id) FROM records").fetchone()[0]
        first = load_rule_inputs(conn, "ent-1", DAY0, DAY0 + 2 * 86400, max_rec, 0)
    push(rdb, gw, day_records(1))  # more data arrives after the analysis
    with rdb.read() as conn:
        again = load_rule_inputs(conn, "ent-1", DAY0, DAY0 + 2 * 86400, max_rec, 0)
        later = load_rule_inputs(conn, "ent-1", DAY0, DAY0 + 2 * 86400, max_rec + 24, 0)
    assert again.digest() == first.digest() and again.record_count == 24
    assert later.digest() != first.digest() and later.record_count == 48
    assert len(first.digest()) == 64 and [b.seq for b in again.batches] == [1]
    assert again.batches[0].clock == {"source": "test", "synced": True}


def test_window_must_lie_inside_the_period(rdb):
    gw = enrolled(rdb, FakeGateway())
    push(rdb, gw, day_records(0) + day_records(1))
    ev = evidence(rdb, start=DAY0 + 12 * H, end=DAY0 + 36 * H)
    assert ev.record_count == 24
    with rdb.read() as conn, pytest.raises(ValueError):
        load_rule_inputs(conn, "ent-1", DAY0, DAY0, 10, 0)


def test_other_enterprises_are_invisible(rdb):
    push(rdb, enrolled(rdb, FakeGateway("gw-a", "ent-a")), day_records(0))
    push(rdb, enrolled(rdb, FakeGateway("gw-b", "ent-b")), day_records(0, 3.0))
    a, b = evidence(rdb, "ent-a", days=1), evidence(rdb, "ent-b", days=1)
    assert np.nansum(a.series("energy.kwh", "press-1", H).value) == 240.0
    assert np.nansum(b.series("energy.kwh", "press-1", H).value) == 72.0
    assert a.digest() != b.digest()


def test_pick_length_prefers_the_longest_window_that_tiles_the_days():
    days_utc8 = np.array([DAY0, DAY0 + 86400])
    assert pick_length([900, 3600, 10], days_utc8) == 3600
    assert pick_length([900, 3600], days_utc8 + 1800) == 900  # a UTC+5:30 site


def test_without_enterprise_figures_days_are_24h_from_the_period_start(rdb):
    push(rdb, enrolled(rdb, FakeGateway()), day_records(0) + day_records(1, 2.0))
    ev = evidence(rdb, start=DAY0, end=DAY0 + 3 * 86400 + 5)
    starts, lens = ev.day_windows()
    assert starts.tolist() == [DAY0, DAY0 + 86400, DAY0 + 2 * 86400] and set(lens.tolist()) == {86400}
    assert ev.daily("energy.kwh").value.tolist() == [240.0, 48.0, 0.0]


def test_details_are_read_only_where_rules_need_them(rdb):
    gw = enrolled(rdb, FakeGateway())
    push(rdb, gw, [
        rec("machine.cycles", "machine", "press-1", DAY0, H, 10.0, "count", detail={"cavities": 4}),
        rec("collateral.unexplained_changes", "collateral", "stack", DAY0, H, 0.0, "count",
            detail={"steps": 0, "unexplained_kg": 0.0}),
        rec("collateral.unexplained_changes", "collateral", "stack", DAY0 + H, H, 1.0, "count",
            q=["unexplained_change"], detail={"steps": 1, "unexplained_kg": -400.0}),
        rec("machine.on_minutes", "machine", "press-1", DAY0, H, 50.0, "min", detail={"observed_min": 60.0}),
        rec("energy.kwh", "energy", "press-1", DAY0 + 2 * H, H, 0.0, "kWh", q=["no_data"]),
    ])
    ev = evidence(rdb, days=1)
    cyc = ev.series("machine.cycles", "press-1", H)
    ch = ev.series("collateral.unexplained_changes", "stack", H)
    on = ev.series("machine.on_minutes", "press-1", H)
    assert ev.detail(cyc.ids[0]) == {"cavities": 4}
    assert [ev.detail(i) for i in ch.ids] == [{}, {"steps": 1, "unexplained_kg": -400.0}]
    assert ev.detail(on.ids[0]) == {}
    assert np.isnan(ev.series("energy.kwh", "press-1", H).value[0])  # a counter's 0 with no_data is unknown
