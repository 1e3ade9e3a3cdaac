"""Issue 18: after a large MES export, the enterprise indicators are recomputed in bounded memory
(window by window, production sums aggregated by the store in SQL, large ranges streamed in
chunks) and only where the import changed something.

The unbounded version held a month's rows per window (a 200 MB export: ~270,000 rows a month,
380 MB and still running after 42 minutes); here the peak Python allocation of a recompute
must not follow the number of rows."""

from __future__ import annotations

import json
import tracemalloc
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.indicators.base import WindowContext
from gateway.indicators.enterprise import (
    DAY,
    MONTH,
    compute_enterprise,
    day_window,
    month_window,
    recompute_plan,
    rows,
)
from gateway.indicators.registry import all_indicators
from gateway.store import Store
from gateway.store import erp as erp_store
from tests.indicators.helpers import profile

TZ = ZoneInfo("Asia/Shanghai")
PROFILE = profile(timezone="Asia/Shanghai")
FIRST = date(2026, 9, 1)
DAYS = 61  # September and October: two month windows and their days
NOW = datetime(2026, 11, 20, 12, tzinfo=TZ).timestamp()


def _fill(store: Store, n: int) -> None:
    """``n`` production rows spread over DAYS days, written through the store's import operations."""
    with erp_store.import_transaction(store):
        iid, _ = erp_store.begin_import(store, "mes", "gen.csv", "fp", NOW, "production")
        for i in range(n):
            d = FIRST + timedelta(days=i * DAYS // n)
            ts = day_window(d, TZ)[0] + (i % 80_000)
            fields = json.dumps({"work_order": f"WO-{i:08d}", "date": d.isoformat(), "product": f"p_{i % 6}",
                                 "good_qty": 100 + i % 50, "scrap_qty": i % 7, "planned_min": 480,
                                 "run_min": 450 + i % 30}, sort_keys=True)
            erp_store.add_row(store, "mes", "production", f"WO-{i:08d}", d.isoformat(), ts, fields, f"h{i}", iid)
        erp_store.finish_import(store, iid, "mes", "production", "fp", (FIRST.isoformat(), None),
                                {"rows_ok": n, "rows_quarantined": 0, "added": n, "changed": 0, "removed": 0,
                                 "unchanged": 0})


def _recompute_peak(tmp_path: Path, n: int) -> tuple[int, int]:
    store = Store(tmp_path / f"r{n}.db", "NORMAL")
    try:
        _fill(store, n)
        days = [FIRST + timedelta(days=i) for i in range(DAYS)]
        all_indicators()  # the indicator modules are imported before, not inside, the measurement
        tracemalloc.start()
        try:
            new, _ = compute_enterprise(store, PROFILE, days, NOW)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return new, peak
    finally:
        store.close()


def test_recompute_memory_does_not_follow_the_rows(tmp_path: Path) -> None:
    """Four times the rows (up to ~20,000 a month window): the same peak, under a fixed bound. The
    version that kept a window's rows (decoded, or as JSON text) peaked at ~12 MB here, growing
    with the rows; summed in SQL a window holds a few floats."""
    new_small, small = _recompute_peak(tmp_path, 10_000)
    new_big, big = _recompute_peak(tmp_path, 40_000)
    assert new_small == new_big > DAYS * 7  # every day and month computed, per product too
    assert big < 1_500_000, (small, big)
    assert big < 1.5 * small + 500_000, (small, big)


def test_sums_in_sql_are_the_sums_of_the_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", "NORMAL")
    try:
        _fill(store, 3_000)
        compute_enterprise(store, PROFILE, [date(2026, 9, 10)], NOW)
        start, length = month_window(date(2026, 9, 1), TZ)
        want_good = want_scrap = 0.0
        for _day, _ts, f in erp_store.rows_between(store, "production", start, start + length):
            want_good += json.loads(f)["good_qty"]
            want_scrap += json.loads(f)["scrap_qty"]
        got = dict(store.db.execute("SELECT name, value FROM indicators WHERE window_start=? AND window_len=? "
                                    "AND subject='enterprise'", (start, length)).fetchall())
        assert got["mes.good_qty"] == round(want_good, 6) and got["mes.scrap_qty"] == round(want_scrap, 6)
        assert got["mes.quality_rate_pct"] == round(100 * want_good / (want_good + want_scrap), 4)
    finally:
        store.close()


@settings(max_examples=25, deadline=None)
@given(ts=st.lists(st.integers(0, 5), min_size=0, max_size=40), chunk=st.integers(1, 7))
def test_rows_stream_in_chunks_each_row_once_in_order(tmp_path_factory, ts: list[int], chunk: int) -> None:  # noqa: ANN001
    """Keyset paging over (ts, id): rows sharing a timestamp across a chunk boundary are neither
    lost nor repeated; the range is [start, end)."""
    store = Store(tmp_path_factory.mktemp("k") / "k.db", "NORMAL")
    try:
        with erp_store.import_transaction(store):
            iid, _ = erp_store.begin_import(store, "c", "s", "fp", 0.0, "shipments")
            for i, t in enumerate(ts):
                erp_store.add_row(store, "c", "shipments", f"k{i}", "2026-10-01", float(t), json.dumps({"i": i}),
                                  "h", iid)
        got = [json.loads(f)["i"] for _d, _t, f in erp_store.rows_between(store, "shipments", 1, 5, chunk=chunk)]
        assert got == [i for i, _t in sorted(((i, t) for i, t in enumerate(ts) if 1 <= t < 5),
                                             key=lambda p: (p[1], p[0]))]
    finally:
        store.close()


def test_a_large_window_is_streamed_not_kept(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Beyond DECODED_ROWS_MAX a range stays in the store: read again per pass, never held."""
    import gateway.indicators.enterprise as ent

    monkeypatch.setattr(ent, "DECODED_ROWS_MAX", 100)
    monkeypatch.setattr(ent, "WHOLE_DATASET_MAX", 100)
    store = Store(tmp_path / "w.db", "NORMAL")
    try:
        _fill(store, 2_000)
        start, length = month_window(date(2026, 9, 1), TZ)
        ctx = WindowContext(asset="enterprise", start=start, length=length, series={}, devices=[],
                            params={"_scope": "enterprise", "period": MONTH, "tz": TZ}, store=store)
        rs = rows(ctx, "production")
        assert not isinstance(rs, list) and len(rs) == sum(1 for _ in rs) > 100
        assert rs[0]["_ts"] <= rs[-1]["_ts"] and rs[5] == list(rs)[5]
    finally:
        store.close()


def _windows(plan: dict, name: str) -> set[tuple[str, date]]:
    return {(p, datetime.fromtimestamp(s, TZ).date()) for (p, s, _n), only in plan.items()
            if only is None or name in only}


def test_a_correction_recomputes_the_days_it_changed_not_the_year() -> None:
    """One corrected production day: its MES figures, its month and the next month (trend) only.
    A corrected invoice: the receivables balances of every day from it to yesterday (ageing)."""
    now = datetime(2026, 11, 20, 12, tzinfo=TZ).timestamp()
    plan = recompute_plan(PROFILE, [], {"production": {"2026-03-10"}}, now)
    assert _windows(plan, "mes.good_qty") == {(DAY, date(2026, 3, 10)), (MONTH, date(2026, 3, 1)),
                                              (MONTH, date(2026, 4, 1))}
    assert not _windows(plan, "erp.receivables_open_amount")
    plan = recompute_plan(PROFILE, [], {"receivables": {"2026-11-01"}}, now)
    ageing = _windows(plan, "erp.receivables_ageing_amount")
    assert {d for p, d in ageing if p == DAY} == {date(2026, 11, 1) + timedelta(days=i) for i in range(19)}
    assert not _windows(plan, "mes.good_qty")
    # A day that closed since the last run: every indicator.
    plan = recompute_plan(PROFILE, [date(2026, 11, 19)], {}, now)
    assert plan[(DAY, *day_window(date(2026, 11, 19), TZ))] is None


def test_days_without_rows_in_the_span_still_get_their_no_rows_record(tmp_path: Path) -> None:
    """With the store, a flow is planned on the changed days and on the span's days without rows
    (their ``no_rows`` record), not on days whose rows the import left alone."""
    store = Store(tmp_path / "g.db", "NORMAL")
    try:
        with erp_store.import_transaction(store):
            iid, _ = erp_store.begin_import(store, "mes", "s", "fp", NOW, "production")
            for i, d in enumerate((date(2026, 11, 10), date(2026, 11, 12))):
                erp_store.add_row(store, "mes", "production", f"k{i}", d.isoformat(), day_window(d, TZ)[0] + 60,
                                  json.dumps({"good_qty": 1, "product": "p"}), "h", iid)
        now = datetime(2026, 11, 15, 12, tzinfo=TZ).timestamp()
        plan = recompute_plan(PROFILE, [], {"production": {"2026-11-10"}}, now, store=store)
        days = {d for p, d in _windows(plan, "mes.good_qty") if p == DAY}
        assert days == {date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 13), date(2026, 11, 14)}
    finally:
        store.close()


# -- a correction recomputes exactly what a full recomputation would give -----------------------------
SPAN = 45  # days of history before NOW's day


def _d(i: int) -> str:
    return (datetime.fromtimestamp(NOW, TZ).date() - timedelta(days=SPAN - i)).isoformat()


def _exports(corrected: bool) -> dict[str, str]:
    prod = ["work_order,date,product,good_qty,scrap_qty,planned_min,run_min"]
    for i in range(SPAN * 3):
        day, good = i // 3, 100 + i
        if corrected and day == 10:
            good -= 7  # a corrected count
        if corrected and i == 61:
            continue  # a work order withdrawn (day 20)
        prod.append(f"WO-{i},{_d(day)},{'ABC'[i % 3]},{good},{i % 5},480,{400 + i}")
    orders = ["order_no,customer,product,qty,unit_price,order_date,paid_date"]
    for i in range(40):
        day = 25 if corrected and i == 4 else i  # an order re-dated: the open pipeline changes from day 4 on
        paid = _d(i + 3) if i % 4 == 0 else ""
        orders.append(f"SO-{i},C{i % 3},{'AB'[i % 2]},{1 + i},10,{_d(day)},{paid}")
    ar = ["invoice_no,customer,amount,invoice_date,due_date,paid_date"]
    for i in range(20):
        paid = _d(30) if corrected and i == 1 else ""  # a payment recorded late: ageing changes from day 30 on
        ar.append(f"INV-{i},C{i % 3},{1000 + i},{_d(2 * i)},{_d(2 * i + 10)},{paid}")
    return {"production": "\n".join(prod) + "\n", "orders": "\n".join(orders) + "\n",
            "receivables": "\n".join(ar) + "\n"}


def _connectors() -> list[dict]:
    fields = {"production": "work_order,date,product,good_qty,scrap_qty,planned_min,run_min",
              "orders": "order_no,customer,product,qty,unit_price,order_date,paid_date",
              "receivables": "invoice_no,customer,amount,invoice_date,due_date,paid_date"}
    return [{"name": ds, "kind": "folder", "dataset": ds, "path": ds, "pattern": "*.csv", "mode": "snapshot",
             "columns": {f: f for f in cols.split(",")}} for ds, cols in fields.items()]


def _write(state: Path, corrected: bool) -> None:
    for ds, text in _exports(corrected).items():
        (state / ds).mkdir(parents=True, exist_ok=True)
        (state / ds / f"{ds}.csv").write_text(text, encoding="utf-8")


def _figures(store: Store) -> dict[tuple, tuple]:
    out = {}
    for name, subject, ws, wl, value, quality, detail in store.db.execute(
            "SELECT name, subject, window_start, window_len, value, quality, detail FROM indicators "
            "WHERE name NOT LIKE 'data.%'"):
        d = {k: v for k, v in json.loads(detail).items() if k != "rev"}
        out[(name, subject, ws, wl)] = (value, sorted(q for q in json.loads(quality) if q != "revised"), d)
    return out


def test_a_correction_gives_the_figures_of_a_full_recomputation(tmp_path: Path) -> None:
    """The gateway imports an export, then its correction, recomputing only what the plan says;
    another imports the corrected export into an empty store and computes every day. Same figures,
    flows (MES, order amounts) and balances (open orders, receivables ageing) alike; the plan that
    recomputed too little would leave an old figure standing here."""
    import shutil

    from gateway.connectors.runner import ConnectorRunner
    from gateway.privacy.tokens import KEY_FILE

    prof = profile(timezone="Asia/Shanghai", connectors=_connectors())
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, corrected=False)
    sa = Store(a / "edgeproof.db", "NORMAL")
    try:
        runner = ConnectorRunner(prof, a, sa, settle_s=0.0)
        assert all(r.status == "imported" for r in runner.run_once(NOW, force=True))
        before = _figures(sa)
        _write(a, corrected=True)
        reps = runner.run_once(NOW, force=True)
        assert sorted((r.dataset, r.changed + r.removed) for r in reps) == [
            ("orders", 1), ("production", 4), ("receivables", 1)]
        incremental = _figures(sa)
        b.mkdir()
        shutil.copy(a / KEY_FILE, b / KEY_FILE)  # the same site key: the same product and customer tokens
        _write(b, corrected=True)
        sb = Store(b / "edgeproof.db", "NORMAL")
        try:
            assert all(r.status == "imported" for r in ConnectorRunner(prof, b, sb, settle_s=0.0).run_once(
                NOW, force=True))
            full = _figures(sb)
        finally:
            sb.close()
    finally:
        sa.close()
    # A product gone from a day keeps a zero there (``per_subject``): the fresh store never had it.
    gone = {k: v for k, v in incremental.items() if k not in full}
    assert gone and all(v[:2] == (0.0, ["no_rows"]) for v in gone.values()), gone
    assert {k: v for k, v in incremental.items() if k in full} == full
    changed = {k[0] for k in full if before.get(k) != full[k]}
    assert {"mes.good_qty", "erp.orders_open", "erp.receivables_ageing_amount"} <= changed
