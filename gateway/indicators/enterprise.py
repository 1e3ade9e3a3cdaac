"""Enterprise-scope indicators: figures from the enterprise's own MES/ERP exports.

These are ordinary registered indicators (subclass ``EnterpriseIndicator``, decorate
``@register``) but their window is a business period, a local day or a calendar month of
the site, and their input is imported rows (``erp_rows``) rather than readings. The
engine's time watermark does not fit them: an export arrives days after the period it
describes and may be corrected later. So they run for the periods an import changed and for
each newly closed day (``recompute_plan``: which indicators in which windows; ``compute_windows``
runs it window by window), and results are stored with ``Store.upsert_indicators``: an
unchanged figure is a no-op, a corrected one is re-sent as a revision. Their rows come from
the store (gateway/store/erp.py) summed in SQL or in chunks, never a whole history at once.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, overload
from zoneinfo import ZoneInfo

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext, failed_value
from gateway.indicators.registry import all_indicators
from gateway.store import erp as erp_store

log = logging.getLogger("edgeproof.indicators")
SCOPE = "enterprise"
SUBJECT = "enterprise"
MAX_DAYS_BACK = 400
DAY, MONTH = "day", "month"


class EnterpriseIndicator(Indicator):
    """Base for indicators over imported rows; ``periods`` says which window kinds apply."""

    periods: tuple[str, ...] = (DAY, MONTH)
    dataset: str = ""
    # Other datasets whose changes change this indicator (the product master for packs).
    also_reads: tuple[str, ...] = ()
    # Does a window's value depend on rows dated before the window (a balance as of its end:
    # open orders, receivables ageing)? Then a change on day d is recomputed on every later day;
    # a flow (what the rows dated in the window add up to) only in the windows holding d. True
    # unless an indicator says otherwise: recomputing too much is slow, too little is wrong.
    reads_history: bool = True

    def applies(self, ctx: WindowContext) -> bool:
        if ctx.params.get("_scope") != SCOPE or ctx.params.get("period") not in self.periods:
            return False
        return not self.dataset or has_dataset(ctx, self.dataset)

    def depends_on(self, dataset: str) -> bool:
        """Does a change of this dataset change this indicator (no dataset: any may)?"""
        return not self.dataset or dataset in (self.dataset, *self.also_reads)


# -- access to imported rows (gateway/store/erp.py runs the SQL) ---------------------------------------
def _cache(ctx: WindowContext) -> dict[str, Any]:
    return ctx.params.setdefault("_cache", {})


def has_dataset(ctx: WindowContext, dataset: str) -> bool:
    c = _cache(ctx)
    key = f"has:{dataset}"
    if key not in c:
        c[key] = erp_store.has_rows(ctx.store, dataset)
    return bool(c[key])


# Row ranges kept per computation run: the windows of one run share them (a day's
# indicators read the same day; a month's, the same month). Older ranges are dropped, so
# memory follows the rows of one window, never the whole imported history.
RANGES_KEPT = 2
# A dataset of at most this many rows is loaded whole once per computation run and sliced
# per window (a replay computes hundreds of windows; history-wide ranges such as open orders
# would otherwise be read again for each). A larger one is read per range.
WHOLE_DATASET_MAX = 10_000
# A range of at most this many rows is kept decoded (dicts, ~1.5 KB a row: every indicator
# of the window reads it again); a larger one is streamed from the store, a chunk at a time,
# each time it is read: memory stays one chunk whatever the window holds.
DECODED_ROWS_MAX = 5_000
# Field sums kept per computation run (the indicators of one window ask for the same ones).
TOTALS_KEPT = 8


def _decoded(day: str, ts: float, fields: str) -> dict[str, Any]:
    return {**json.loads(fields), "_day": day, "_ts": ts}


class StoredRows(Sequence[dict[str, Any]]):
    """The rows of one range, left in the store: each iteration reads them again in chunks
    (``erp_store.rows_between``) and decodes one row at a time. A month of a dense MES export
    is ~270,000 rows: kept in memory, even as JSON text, that was ~80 MB per range."""

    __slots__ = ("_dataset", "_end", "_n", "_start", "_store")

    def __init__(self, store: Any, dataset: str, start: float, end: float, n: int) -> None:
        self._store, self._dataset, self._start, self._end, self._n = store, dataset, start, end, n

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for day, ts, fields in erp_store.rows_between(self._store, self._dataset, self._start, self._end):
            yield _decoded(day, ts, fields)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            lo, hi, step = i.indices(self._n)
            return list(itertools.islice(iter(self), lo, hi, step)) if step > 0 else list(self)[i]
        j = i if i >= 0 else self._n + i
        if not 0 <= j < self._n:
            raise IndexError(i)
        return next(itertools.islice(iter(self), j, None))


def _whole_dataset(ctx: WindowContext, c: dict[str, Any], dataset: str
                   ) -> tuple[list[float], list[dict[str, Any]]] | None:
    """The whole dataset as (timestamps, rows) when it is small enough, loaded once per run."""
    key = f"all:{dataset}"
    if key not in c:
        if erp_store.count_rows(ctx.store, dataset) > WHOLE_DATASET_MAX:
            c[key] = None
        else:
            got = [_decoded(*r) for r in erp_store.rows_between(ctx.store, dataset, -math.inf, math.inf)]
            c[key] = ([r["_ts"] for r in got], got)
    return c[key]


def rows(ctx: WindowContext, dataset: str, start: float | None = None, end: float | None = None
         ) -> Sequence[dict[str, Any]]:
    """Rows of a dataset whose own date is in [start, end) (default: the window); each is
    its fields plus ``_day`` and ``_ts``, oldest first. A small range is read once and kept
    (the last ``RANGES_KEPT``); a large one is streamed from the store each time it is read."""
    start = ctx.start if start is None else start
    end = ctx.end if end is None else end
    c = _cache(ctx)
    whole = _whole_dataset(ctx, c, dataset)
    if whole is not None:
        ts, data_all = whole
        return data_all[bisect.bisect_left(ts, start):bisect.bisect_left(ts, end)]
    ranges: dict[tuple[str, float, float], Sequence[dict[str, Any]]] = c.setdefault("ranges", {})
    key = (dataset, float(start), float(end))
    if key in ranges:
        ranges[key] = ranges.pop(key)  # most recently used last
        return ranges[key]
    while len(ranges) >= RANGES_KEPT:  # drop before loading: never three ranges at once
        ranges.pop(next(iter(ranges)))
    n = erp_store.count_rows(ctx.store, dataset, start, end)
    kept: Sequence[dict[str, Any]]
    if n <= DECODED_ROWS_MAX:
        kept = [_decoded(*r) for r in erp_store.rows_between(ctx.store, dataset, start, end)]
    else:
        kept = StoredRows(ctx.store, dataset, start, end, n)
    ranges[key] = kept
    return kept


def totals(ctx: WindowContext, dataset: str, fields: Sequence[str], by: str | None = None
           ) -> dict[Any, tuple[int, dict[str, float]]]:
    """Sums of numeric fields over the window's rows, aggregated by the store in SQL (one scan,
    no rows held): group (the value of field ``by``, or None) -> (rows, {field: total}); no
    entry when the window has no rows. The indicators of a window share one query."""
    c = _cache(ctx).setdefault("totals", {})
    key = (dataset, ctx.start, ctx.end, tuple(fields), by)
    if key not in c:
        while len(c) >= TOTALS_KEPT:
            c.pop(next(iter(c)))
        got = erp_store.totals(ctx.store, dataset, ctx.start, ctx.end, fields, by)
        c[key] = {g: (n, dict(zip(fields, vals, strict=True))) for g, (n, vals) in got.items()}
    return c[key]


def count_distinct(ctx: WindowContext, dataset: str, field: str) -> tuple[int, int]:
    """(rows, distinct values of ``field``, a row without it counting by its time) over the
    window's rows, counted by the store in SQL."""
    return erp_store.count_distinct(ctx.store, dataset, ctx.start, ctx.end, field)


def as_of(ctx: WindowContext) -> date:
    """The last local day inside the window (a balance 'as of' the window's end)."""
    tz = ctx.params["tz"]
    return (datetime.fromtimestamp(ctx.end, tz) - timedelta(seconds=1)).date()


def day_of(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


def previous_subjects(ctx: WindowContext, name: str, prefix: str) -> set[str]:
    """Subjects already stored for this indicator and window: a correction that drops a
    product must bring that product's figure to zero, not leave the old one standing."""
    return erp_store.indicator_subjects(ctx.store, name, int(ctx.start), int(ctx.length), prefix)


def per_subject(ind: Indicator, ctx: WindowContext, values: dict[str, float], prefix: str,
                **detail: Any) -> list[IndicatorValue]:
    """One value per subject, plus zeros for subjects seen before in this window and gone now."""
    out = [ind.value(ctx, round(v, 6), [], subject=s, **detail) for s, v in sorted(values.items())]
    for gone in sorted(previous_subjects(ctx, ind.name, prefix) - set(values)):
        out.append(ind.value(ctx, 0.0, ["no_rows"], subject=gone))
    return out


# -- windows --------------------------------------------------------------------------------------
def local_midnight(d: date, tz: ZoneInfo) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


def day_window(d: date, tz: ZoneInfo) -> tuple[int, int]:
    start = local_midnight(d, tz)
    return int(start), int(local_midnight(d + timedelta(days=1), tz) - start)


def month_window(d: date, tz: ZoneInfo) -> tuple[int, int]:
    first = d.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    start = local_midnight(first, tz)
    return int(start), int(local_midnight(nxt, tz) - start)


def _enterprise_indicators() -> list[EnterpriseIndicator]:
    return [i for i in all_indicators().values() if isinstance(i, EnterpriseIndicator)]


# (period, window_start, window_len) of one enterprise window.
Window = tuple[str, int, int]


def _day(d: str | date) -> date:
    return d if isinstance(d, date) else date.fromisoformat(str(d)[:10])


def _windows(days: Iterable[str | date], tz: ZoneInfo, now: float) -> list[Window]:
    """The closed windows the given local days are in: each day, its month and the month after
    (whose trend depends on it), none older than MAX_DAYS_BACK."""
    floor = datetime.fromtimestamp(now, tz).date() - timedelta(days=MAX_DAYS_BACK)
    wanted_days: set[date] = set()
    months: set[date] = set()
    for d in map(_day, days):
        if d < floor:
            continue
        wanted_days.add(d)
        months.add(d.replace(day=1))
        months.add((d.replace(day=1) + timedelta(days=32)).replace(day=1))
    out: list[Window] = []
    for d in sorted(wanted_days):
        s, n = day_window(d, tz)
        if s + n <= now:
            out.append((DAY, s, n))
    for m in sorted(months):
        s, n = month_window(m, tz)
        if s + n <= now:
            out.append((MONTH, s, n))
    return out


def compute_enterprise(store: Any, profile: Any, days: Iterable[str | date], now: float | None = None,
                       subject_tz: str | None = None) -> tuple[int, int]:
    """Compute every enterprise indicator for the given local days and their months (and the
    month after each, whose trend depends on it); only closed windows. Returns (new, revised)."""
    now = time.time() if now is None else now
    tz = ZoneInfo(subject_tz or profile.site.timezone)
    return compute_windows(store, profile, dict.fromkeys(_windows(days, tz, now)), tz)


def recompute_plan(profile: Any, closed_days: Iterable[str | date], changed: Mapping[str, Iterable[str | date]],
                   now: float, subject_tz: str | None = None, store: Any = None) -> dict[Window, set[str] | None]:
    """Which indicators to compute in which window (None: all of them) after imports.

    Every indicator for the days that closed since the last run; for each dataset an import
    changed (``changed``: dataset -> the days whose rows it added, changed or removed; "" for
    unknown), the indicators reading it: a flow in the windows holding a changed day, a balance
    (``reads_history``) in every window from the first changed day to yesterday. A correction of
    one day of production recomputes that day and its months, not the year.

    With the ``store``, a flow is also computed on the days of that span without rows of the
    dataset (its ``no_rows`` record, as when every day of the span was recomputed): a history
    imported for the first time leaves no day of it unaccounted for. Days with rows the import
    did not change keep their figures, which cannot have moved."""
    tz = ZoneInfo(subject_tz or profile.site.timezone)
    yesterday = datetime.fromtimestamp(now, tz).date() - timedelta(days=1)
    plan: dict[Window, set[str] | None] = dict.fromkeys(_windows(closed_days, tz, now))
    inds = _enterprise_indicators()
    for dataset, days_in in changed.items():
        days = {_day(d) for d in days_in}
        if not days:
            continue
        readers = [i for i in inds if not dataset or i.depends_on(dataset)]
        later = {d for d in days if d > yesterday}  # today's rows: their windows when they close
        d, history = min(days), set(later)
        while d <= yesterday:
            history.add(d)
            d += timedelta(days=1)
        flow_days = set(days) if dataset else set(history)
        if store is not None and dataset:
            have = erp_store.days_with_rows(store, dataset)
            flow_days |= {d for d in history if d.isoformat() not in have}
        for names, ds in (({i.name for i in readers if not i.reads_history}, flow_days),
                          ({i.name for i in readers if i.reads_history}, history)):
            if not names:
                continue
            for w in _windows(ds, tz, now):
                if w not in plan:
                    plan[w] = set(names)
                elif plan[w] is not None:
                    plan[w] |= names  # type: ignore[operator]
    return plan


def compute_windows(store: Any, profile: Any, plan: Mapping[Window, set[str] | None], tz: ZoneInfo
                    ) -> tuple[int, int]:
    """Compute the planned indicators window by window (days, then months, oldest first), each
    window's figures stored before the next is read: memory is one window's results and the
    rows the store hands over in chunks, never the whole history. Returns (new, revised)."""
    inds = _enterprise_indicators()
    new = revised = 0
    shared: dict[str, Any] = {}
    for period, start, length in sorted(plan, key=lambda w: (w[0] != DAY, w[1])):
        only = plan[(period, start, length)]
        ctx = WindowContext(asset=SUBJECT, start=start, length=length, series={}, devices=[],
                            params={"_scope": SCOPE, "period": period, "tz": tz, "_cache": shared},
                            profile=profile, store=store)
        out: list[dict[str, Any]] = []
        for ind in inds:
            if (only is not None and ind.name not in only) or not ind.applies(ctx):
                continue
            try:
                values = ind.compute(ctx)
            except Exception as exc:  # one broken indicator (or odd row) must not stop the others
                log.exception("enterprise indicator failed", extra={"indicator": ind.name, "window": start,
                                                                    "error": str(exc)})
                values = [failed_value(ind, SUBJECT, exc)]
            for v in values:
                if v.value is not None and not math.isfinite(v.value):
                    v.value, v.quality = None, [*v.quality, "not_finite"]
                out.append({"name": v.name, "category": ind.category, "subject": v.subject, "window_start": start,
                            "window_len": length, "value": v.value, "unit": v.unit, "quality": v.quality,
                            "version": ind.version, "detail": {"period": period, **v.detail}})
        if out:
            a, b = store.upsert_indicators(out)
            new, revised = new + a, revised + b
    return new, revised


def closed_days_since(store: Any, profile: Any, now: float | None = None) -> list[date]:
    """Local days that closed since the last run (watermark ``ent.wm.day``), from the first
    imported day on, at most MAX_DAYS_BACK back: ageing moves on even when no export arrives."""
    now = time.time() if now is None else now
    tz = ZoneInfo(profile.site.timezone)
    first = erp_store.first_day(store)
    if first is None:
        return []
    yesterday = datetime.fromtimestamp(now, tz).date() - timedelta(days=1)
    wm = store.meta_get("ent.wm.day")
    start = date.fromisoformat(wm) + timedelta(days=1) if wm else date.fromisoformat(first)
    start = max(start, yesterday - timedelta(days=MAX_DAYS_BACK))
    out = []
    d = start
    while d <= yesterday:
        out.append(d)
        d += timedelta(days=1)
    return out
