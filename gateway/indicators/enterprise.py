"""Enterprise-scope indicators: figures from the enterprise's own MES/ERP exports.

These are ordinary registered indicators (subclass ``EnterpriseIndicator``, decorate
``@register``) but their window is a business period, a local day or a calendar month of
the site, and their input is imported rows (``erp_rows``) rather than readings. The
engine's time watermark does not fit them: an export arrives days after the period it
describes and may be corrected later. So ``compute_enterprise`` runs them for the periods
an import touched (and for each newly closed day), and stores results with
``Store.upsert_indicators``: an unchanged figure is a no-op, a corrected one is re-sent as
a revision.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any, overload
from zoneinfo import ZoneInfo

from gateway.indicators.base import Indicator, IndicatorValue, WindowContext, failed_value
from gateway.indicators.registry import all_indicators

log = logging.getLogger("edgeproof.indicators")
SCOPE = "enterprise"
SUBJECT = "enterprise"
MAX_DAYS_BACK = 400
DAY, MONTH = "day", "month"


class EnterpriseIndicator(Indicator):
    """Base for indicators over imported rows; ``periods`` says which window kinds apply."""

    periods: tuple[str, ...] = (DAY, MONTH)
    dataset: str = ""

    def applies(self, ctx: WindowContext) -> bool:
        if ctx.params.get("_scope") != SCOPE or ctx.params.get("period") not in self.periods:
            return False
        return not self.dataset or has_dataset(ctx, self.dataset)


# -- access to imported rows --------------------------------------------------------------------
def _cache(ctx: WindowContext) -> dict[str, Any]:
    return ctx.params.setdefault("_cache", {})


def has_dataset(ctx: WindowContext, dataset: str) -> bool:
    c = _cache(ctx)
    key = f"has:{dataset}"
    if key not in c:
        with ctx.store._lock:
            c[key] = ctx.store.db.execute("SELECT 1 FROM erp_rows WHERE dataset=? LIMIT 1", (dataset,)).fetchone() \
                is not None
    return bool(c[key])


# Row ranges kept per computation run: the windows of one run share them (a day's
# indicators read the same day; a month's, the same month). Older ranges are dropped, so
# memory follows the rows of one window, never the whole imported history.
RANGES_KEPT = 2
# A dataset of at most this many rows is loaded whole once per computation run and sliced
# per window (a replay computes hundreds of windows; history-wide ranges such as open orders
# would otherwise be read again for each). A larger one is read per range.
WHOLE_DATASET_MAX = 20_000
# A range of at most this many rows is kept decoded (dicts, ~1.5 KB a row: every indicator
# of the window reads it again); a larger one compact (JSON text, decoded row by row).
DECODED_ROWS_MAX = 10_000


class Rows(Sequence[dict[str, Any]]):
    """Imported rows of one range, kept compact: each row's JSON text (as stored), decoded to
    a dict only when read. A month of a busy MES export is a few hundred thousand rows: as
    dicts that was ~1.5 KB each, as text ~0.2 KB."""

    __slots__ = ("_days", "_fields", "_ts")

    def __init__(self) -> None:
        self._days: list[str] = []
        self._ts: list[float] = []
        self._fields: list[str] = []

    def append(self, day: str, ts: float, fields: str) -> None:
        self._days.append(day)
        self._ts.append(ts)
        self._fields.append(fields)

    def __len__(self) -> int:
        return len(self._fields)

    def _row(self, i: int) -> dict[str, Any]:
        return {**json.loads(self._fields[i]), "_day": self._days[i], "_ts": self._ts[i]}

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self._row(j) for j in range(*i.indices(len(self)))]
        return self._row(i if i >= 0 else len(self) + i)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self._fields)):
            yield self._row(i)


def _whole_dataset(ctx: WindowContext, c: dict[str, Any], dataset: str
                   ) -> tuple[list[float], list[dict[str, Any]]] | None:
    """The whole dataset as (timestamps, rows) when it is small enough, loaded once per run."""
    key = f"all:{dataset}"
    if key not in c:
        with ctx.store._lock:
            n = ctx.store.db.execute("SELECT COUNT(*) FROM erp_rows WHERE dataset=?", (dataset,)).fetchone()[0]
            if n > WHOLE_DATASET_MAX:
                c[key] = None
            else:
                got = ctx.store.db.execute("SELECT day, ts, fields FROM erp_rows WHERE dataset=? ORDER BY ts, id",
                                           (dataset,)).fetchall()
                c[key] = ([t for _, t, _ in got], [{**json.loads(f), "_day": d, "_ts": t} for d, t, f in got])
    return c[key]


def rows(ctx: WindowContext, dataset: str, start: float | None = None, end: float | None = None
         ) -> Sequence[dict[str, Any]]:
    """Rows of a dataset whose own date is in [start, end) (default: the window); each is
    its fields plus ``_day`` and ``_ts``. Read from the store per range (index on dataset,
    ts), the last ``RANGES_KEPT`` ranges cached."""
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
    data = Rows()
    with ctx.store._lock:
        for d, t, f in ctx.store.db.execute("SELECT day, ts, fields FROM erp_rows WHERE dataset=? AND ts>=? AND "
                                            "ts<? ORDER BY ts, id", (dataset, start, end)):
            data.append(d, t, f)
    kept: Sequence[dict[str, Any]] = list(data) if len(data) <= DECODED_ROWS_MAX else data
    ranges[key] = kept
    return kept


def as_of(ctx: WindowContext) -> date:
    """The last local day inside the window (a balance 'as of' the window's end)."""
    tz = ctx.params["tz"]
    return (datetime.fromtimestamp(ctx.end, tz) - timedelta(seconds=1)).date()


def day_of(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


def previous_subjects(ctx: WindowContext, name: str, prefix: str) -> set[str]:
    """Subjects already stored for this indicator and window: a correction that drops a
    product must bring that product's figure to zero, not leave the old one standing."""
    with ctx.store._lock:
        got = ctx.store.db.execute("SELECT subject FROM indicators WHERE name=? AND window_start=? AND window_len=? "
                                   "AND subject LIKE ?", (name, int(ctx.start), int(ctx.length),
                                                          prefix + "%")).fetchall()
    return {r[0] for r in got}


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


def compute_enterprise(store: Any, profile: Any, days: Iterable[str | date], now: float | None = None,
                       subject_tz: str | None = None) -> tuple[int, int]:
    """Compute every enterprise indicator for the given local days and their months (and the
    month after each, whose trend depends on it); only closed windows. Returns (new, revised)."""
    now = time.time() if now is None else now
    tz = ZoneInfo(subject_tz or profile.site.timezone)
    today = datetime.fromtimestamp(now, tz).date()
    floor = today - timedelta(days=MAX_DAYS_BACK)
    wanted_days: set[date] = set()
    months: set[date] = set()
    for d in days:
        dd = d if isinstance(d, date) else date.fromisoformat(str(d)[:10])
        if dd < floor:
            continue
        wanted_days.add(dd)
        months.add(dd.replace(day=1))
        months.add((dd.replace(day=1) + timedelta(days=32)).replace(day=1))
    windows: list[tuple[str, int, int]] = []
    for d in sorted(wanted_days):
        s, n = day_window(d, tz)
        if s + n <= now:
            windows.append((DAY, s, n))
    for m in sorted(months):
        s, n = month_window(m, tz)
        if s + n <= now:
            windows.append((MONTH, s, n))
    inds = _enterprise_indicators()
    new = revised = 0
    shared: dict[str, Any] = {}
    for period, start, length in windows:
        ctx = WindowContext(asset=SUBJECT, start=start, length=length, series={}, devices=[],
                            params={"_scope": SCOPE, "period": period, "tz": tz, "_cache": shared},
                            profile=profile, store=store)
        out: list[dict[str, Any]] = []
        for ind in inds:
            if not ind.applies(ctx):
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
    with store._lock:
        first = store.db.execute("SELECT MIN(day) FROM erp_rows").fetchone()[0]
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
