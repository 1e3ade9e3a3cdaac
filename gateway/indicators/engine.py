"""The indicator engine: closes windows and runs every registered indicator over them.

Windows are epoch-aligned (a 15-minute window starts at :00, :15, ...). Each window
length has a watermark in the store (the next window to compute); after a restart or
an outage the engine catches up window by window, and the store's uniqueness on
(name, subject, window) makes a recomputation harmless.

Counters are apportioned to windows by time (counters.counter_window), so a window needs
the reading that closes its last interval: the first one at or after its end. A window
waits for it (``run_once(wait_for_counters=True)``) while the counter's device is alive,
at most a gap's length (``counter_gap_polls`` polls, capped at MAX_COUNTER_WAIT_S); then it
is computed without it and that tail is unobserved time. The readings just before and
after each window are remembered between consecutive windows (``_Edge``), so a long
silence of one device is not scanned again for every window inside it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.indicators.base import DeviceWindow, Series, WindowContext, failed_value
from gateway.indicators.counters import DEFAULT_GAP_POLLS, max_spread_s
from gateway.indicators.registry import all_indicators
from gateway.indicators.windows import parse_duration, window_start
from gateway.profile.schema import Device, PointDef, Profile
from gateway.store import PointRow, Store

log = logging.getLogger("edgeproof.indicators")
MAX_WINDOWS_PER_RUN = 500
MAX_COUNTER_WAIT_S = 3600.0


@dataclass
class _Edge:
    """What one counter point's previous window left for the next (same window length)."""

    next_start: float  # the window start this ``before`` is valid for
    before: tuple[float, float] | None
    after: tuple[float, float] | None


def gap_s(dev: Device) -> float:
    return float(dev.params.get("counter_gap_polls", DEFAULT_GAP_POLLS)) * dev.poll_interval_s


@dataclass
class AssetPoints:
    devices: list[Device] = field(default_factory=list)
    points: dict[str, tuple[PointRow, PointDef, Device]] = field(default_factory=dict)  # meaning -> first
    # Devices that yield several points of one meaning (a camera with two counting lines):
    # every point, meaning -> [(row, point, device)], so indicators can report each one.
    all_points: dict[str, list[tuple[PointRow, PointDef, Device]]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


class IndicatorEngine:
    def __init__(self, store: Store, profile: Profile, device_points: dict[str, list[PointDef]],
                 windows: list[str] | None = None, grace_s: float | None = None) -> None:
        self.store = store
        self.profile = profile
        self.windows = [parse_duration(w) for w in (windows or profile.indicators.windows)]
        self.grace_s = profile.indicators.grace_s if grace_s is None else grace_s
        self.indicators = all_indicators()
        self.assets: dict[str, AssetPoints] = {}
        self.edges: dict[tuple[int, int], _Edge] = {}
        for dev in profile.devices:
            if not dev.enabled or dev.name not in device_points:
                continue
            a = self.assets.setdefault(dev.asset_name, AssetPoints())
            a.devices.append(dev)
            a.params.update(dev.params)
            for p in device_points[dev.name]:
                row = store.point(dev.name, p.name, p.meaning, p.unit)
                a.points.setdefault(p.meaning, (row, p, dev))
                a.all_points.setdefault(p.meaning, []).append((row, p, dev))
        # Devices with a counter: a window waits for their closing poll (counters_closed).
        self.counter_devices: list[Device] = list({d.name: d for ap in self.assets.values()
                                                   for es in ap.all_points.values() for _r, p, d in es
                                                   if p.counter}.values())

    def prime(self, now: float | None = None) -> None:
        """On a new store, start each window length at the window now open (it will be
        partial and flagged by coverage); an existing store keeps its watermarks."""
        now = time.time() if now is None else now
        for length in self.windows:
            if self.store.meta_get(f"ind.wm.{length}") is None:
                self.store.meta_set(f"ind.wm.{length}", str(window_start(now, length)))

    def computed_until(self) -> float:
        """Readings older than this are already inside computed windows of every length."""
        marks = [float(self.store.meta_get(f"ind.wm.{w}", "0") or 0) for w in self.windows]
        return min(marks) if marks else 0.0

    def run_once(self, now: float | None = None, wait_for_counters: bool = True) -> int:
        """Compute every window closed at ``now`` (a grace after its end), in order; with
        ``wait_for_counters`` a window also waits for its counters' closing readings (see the
        module docstring). Returns how many indicator rows were stored."""
        now = time.time() if now is None else now
        made = 0
        for length in self.windows:
            key = f"ind.wm.{length}"
            wm_text = self.store.meta_get(key)
            wm = int(wm_text) if wm_text else window_start(now, length)
            if not wm_text:
                self.store.meta_set(key, str(wm))
            n = 0
            while wm + length + self.grace_s <= now and n < MAX_WINDOWS_PER_RUN:
                if wait_for_counters and not self.counters_closed(wm + length, now):
                    break
                made += self.compute_window(wm, length)
                wm += length
                n += 1
                self.store.meta_set(key, str(wm))
        return made

    def counters_closed(self, end: float, now: float) -> bool:
        """Whether every device with a counter that was alive before ``end`` has been polled at
        or after it (or has been waited for long enough): apportioning needs the reading that
        closes the window's last interval. Judged from the polls table's (device, ts) index, a
        single index step per device (a counter's own last reading would mean walking the
        readings' time index back over every other device's readings)."""
        for dev in self.counter_devices:
            gap = gap_s(dev)
            if now >= end + min(gap, MAX_COUNTER_WAIT_S):
                continue
            last = self.store.last_poll(dev.name)
            if last is not None and end - gap <= last < end:
                return False
        return True

    def needed_meanings(self) -> set[str]:
        """Meanings some indicator reads: only these are loaded ahead, in one range scan
        per window (a raw voltage nobody turns into an indicator is never loaded)."""
        needed: set[str] = set()
        for ind in self.indicators.values():
            needed.update(ind.requires, ind.requires_any, ind.reads)
        return needed

    def compute_window(self, start: int, length: int) -> int:
        rows: list[dict[str, Any]] = []
        needed = self.needed_meanings()
        made = 0
        for asset, ap in self.assets.items():
            # One asset's readings at a time: the peak memory of a window is one asset's
            # needed points, not the whole site's (pymalloc keeps a peak once reached).
            ctx = self.context(asset, ap, start, length, needed)
            rows.extend(self.asset_rows(ctx, asset))
            reopen = ctx.series_by_point.reopen_from  # type: ignore[attr-defined]
            if reopen is not None:
                made += self.revise_gap(asset, ap, reopen, start, length, needed)
        return made + (self.store.add_indicators(rows) if rows else 0)

    def revise_gap(self, asset: str, ap: AssetPoints, since: float, until: int, length: int,
                   needed: set[str]) -> int:
        """A counter read again after a gap: the windows already computed inside the gap (null,
        its closing reading had not come) get their share of the increase now, as revisions
        (``Store.upsert_indicators``: unchanged values are left alone, sent ones re-sent with
        ``revised``). Only indicators reading one of the asset's counters are recomputed."""
        counters = {m for m, es in ap.all_points.items() if any(p.counter for _r, p, _d in es)}
        rows: list[dict[str, Any]] = []
        w = window_start(since, length)
        edges: dict[tuple[int, int], _Edge] = {}
        while w < until:
            ctx = self.context(asset, ap, w, length, needed, edges)
            rows.extend(self.asset_rows(ctx, asset, only=counters))
            w += length
        if not rows:
            return 0
        new, revised = self.store.upsert_indicators(rows)
        return new + revised

    def asset_rows(self, ctx: WindowContext, asset: str, only: set[str] | None = None) -> list[dict[str, Any]]:
        """Every applicable indicator's values for one asset's window (``only``: those reading
        one of these meanings), as store rows."""
        rows: list[dict[str, Any]] = []
        start, length = int(ctx.start), int(ctx.length)
        for ind in self.indicators.values():
            if only is not None and not only.intersection((*ind.requires, *ind.requires_any, *ind.reads)):
                continue
            if not ind.applies(ctx):
                continue
            try:
                values = ind.compute(ctx)
            except Exception as exc:  # one broken indicator must not stop the others
                log.exception("indicator failed", extra={"indicator": ind.name, "asset": asset,
                                                         "error": str(exc)})
                values = [failed_value(ind, asset, exc)]
            for v in values:
                if v.value is not None and not math.isfinite(v.value):
                    v.value, v.quality = None, [*v.quality, "not_finite"]
                rows.append({"name": v.name, "category": ind.category, "subject": v.subject,
                             "window_start": start, "window_len": length, "value": v.value, "unit": v.unit,
                             "quality": v.quality, "version": ind.version, "detail": v.detail})
        return rows

    def context(self, asset: str, ap: AssetPoints, start: int, length: int,
                needed: set[str] | None = None, edges: dict[tuple[int, int], _Edge] | None = None) -> WindowContext:
        by_point = _LazySeries(self.store, ap, start, length, needed or set(),
                               self.edges if edges is None else edges)
        series = _FirstSeries(by_point, ap)
        devices = []
        for dev in ap.devices:
            good, bad = self.store.polls(dev.name, start, start + length)
            devices.append(DeviceWindow(dev.name, dev.poll_interval_s, int(round(length / dev.poll_interval_s)),
                                        good, bad, sum(1 for p in ap.points.values() if p[2].name == dev.name)))
        return WindowContext(asset=asset, start=start, length=length, series=series,  # type: ignore[arg-type]
                             devices=devices, params=dict(ap.params), profile=self.profile, store=self.store,
                             series_by_point=by_point)  # type: ignore[arg-type]


class _LazySeries(Mapping[str, dict[str, Series]]):
    """meaning -> {point: Series}, loaded on first access, so memory holds only what is read.
    The first access loads every *needed* meaning of the asset in one range scan; a meaning
    no indicator declared is fetched on its own."""

    def __init__(self, store: Store, ap: AssetPoints, start: int, length: int, needed: set[str],
                 edges: dict[tuple[int, int], _Edge] | None = None) -> None:
        self.store, self.ap, self.start, self.length, self.needed = store, ap, start, length, needed
        self.edges = {} if edges is None else edges
        # Set when a counter's first reading in this window closes a gap that began before it:
        # the time of the reading that opened the gap (the engine revises the gap's windows).
        self.reopen_from: float | None = None
        self.prefetched: dict[int, tuple[list[float], list[float | None], list[str]]] | None = None
        self._cache: dict[str, dict[str, Series]] = {}

    def __getitem__(self, meaning: str) -> dict[str, Series]:
        if meaning not in self._cache:
            entries = self.ap.all_points[meaning]  # KeyError for a meaning the asset lacks
            if self.prefetched is None and meaning in self.needed:
                self.prefetched = self.store.readings_window(
                    [row.id for m, es in self.ap.all_points.items() if m in self.needed for row, _p, _d in es],
                    self.start, self.start + self.length)
            out = {}
            for row, pdef, dev in entries:
                cols = (self.prefetched or {}).get(row.id)
                if cols is None:
                    cols = self.store.readings_window([row.id], self.start, self.start + self.length)[row.id]
                before = after = None
                if pdef.counter:
                    before, after = self.counter_edges(row.id, dev, cols)
                out[pdef.name] = Series(ts=cols[0], values=cols[1], quality=cols[2], before=before,
                                        counter=pdef.counter, rollover=pdef.rollover, after=after,
                                        poll_s=dev.poll_interval_s)
            self._cache[meaning] = out
        return self._cache[meaning]

    def counter_edges(self, point_id: int, dev: Device, cols: tuple[list[float], list[float | None], list[str]]
                      ) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
        """The counter's last usable reading before the window and first at or after its end,
        within ``counter_max_spread_s``: the intervals that straddle the window's edges (a jump
        after a silence is spread over the silence, not claimed by one window)."""
        start, end = float(self.start), float(self.start + self.length)
        # How far back (and forward) a neighbouring reading is looked for: an interval longer
        # than the device's ``counter_max_spread_s`` is not claimed (counters.counter_window).
        horizon = max(max_spread_s(dev.params), 3 * dev.poll_interval_s, 5.0)
        key = (self.length, point_id)
        edge = self.edges.get(key)
        if edge is not None and edge.next_start == start:
            before = edge.before if edge.before is not None and edge.before[0] >= start - horizon else None
        else:
            before = self.store.last_good_before(point_id, start, horizon)
        if edge is not None and edge.after is not None and edge.after[0] >= end:
            after: tuple[float, float] | None = edge.after
        else:
            after = self.store.first_good_after(point_id, end, horizon)
        first = next(((t, v) for t, v, q in zip(*cols, strict=True) if v is not None and q in ("good", "stale")), None)
        if before is not None and first is not None and first[0] - before[0] > gap_s(dev):
            self.reopen_from = before[0] if self.reopen_from is None else min(self.reopen_from, before[0])
        last = before
        for t, v, q in zip(reversed(cols[0]), reversed(cols[1]), reversed(cols[2]), strict=True):
            if v is not None and q in ("good", "stale"):
                last = (t, v)
                break
        self.edges[key] = _Edge(end, last, after)
        return before, after

    def __iter__(self) -> Iterator[str]:
        return iter(self.ap.all_points)

    def __len__(self) -> int:
        return len(self.ap.all_points)

    def __contains__(self, meaning: object) -> bool:
        return meaning in self.ap.all_points


class _FirstSeries(Mapping[str, Series]):
    """meaning -> the Series of the asset's first point of that meaning (``ctx.series``)."""

    def __init__(self, by_point: _LazySeries, ap: AssetPoints) -> None:
        self.by_point, self.ap = by_point, ap

    def __getitem__(self, meaning: str) -> Series:
        return self.by_point[meaning][self.ap.points[meaning][1].name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ap.points)

    def __len__(self) -> int:
        return len(self.ap.points)

    def __contains__(self, meaning: object) -> bool:
        return meaning in self.ap.points
