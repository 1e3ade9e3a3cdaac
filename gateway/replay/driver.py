"""Driving the gateway's real path over recorded history under a simulated clock.

What runs is what a live gateway runs, minus the drivers' bus I/O: the decoded values of
each CSV row get the scheduler's quality checks (``PointQuality``: out_of_range, stale)
and are committed to the store as readings and polls; the indicator engine closes windows
at simulated times (``run_once(now)``); the MES/ERP connectors import the exports with their
import clock simulated and compute the enterprise days as they close; the consent gate
evaluates the grants at the simulated time; the batcher signs batches dated by the
simulated clock and marked ``"replay"``; the uplink sends them in order until acknowledged.

The clock ticks at every boundary of the shortest indicator window (plus the profile's
grace), as fast as it can. While the recording gateway was down (every device silent,
see ``data.up_periods``) nothing ticks: on resume the boot counter moves on and the engine
catches up over the silent windows exactly as a restarted gateway does, so an outage shows
in the replayed history as it would have shown live.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec

from drivers.support.base import Quality
from gateway.clock import reported_clock
from gateway.consent.gate import build_gate
from gateway.identity import Identity
from gateway.indicators.engine import IndicatorEngine
from gateway.indicators.windows import window_start
from gateway.profile.schema import PointDef, Profile
from gateway.quality import PointQuality
from gateway.replay.data import ReplayData, iso, merged_rows
from gateway.replay.declarations import DeclarationFeed
from gateway.replay.uplink import RETRY_DELAYS_S, ReplayUplink
from gateway.store import PointRow, Store
from gateway.store import indicators as indicators_db
from gateway.store import readings as readings_db
from gateway.uplink.batcher import Batcher
from gateway.uplink.packing import pack_step
from gateway.uplink.transport import Transport

log = logging.getLogger("edgeproof.replay")
REPLAY_CLOCK = {"synced": True, "source": "replay"}
KEEP_BEHIND_S = 86400.0  # raw readings kept behind the computed windows (counters look back 3 polls)
LAST_KEY = "replay.last"  # meta: the last replay's data hash, period and whether it completed
Mode = Literal["new", "resend", "resume"]


class SimClock:
    """The simulated time every component reads (``clock()``); only the driver moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class _DevicePoints:
    rows: list[PointRow]
    qualities: list[PointQuality]


@dataclass
class Counts:
    readings: int = 0
    polls: int = 0
    failed_polls: int = 0
    windows: int = 0
    batches: int = 0
    boots: int = 0
    imports: list[dict[str, Any]] = field(default_factory=list)


def replay_profile(profile: Profile, data: ReplayData) -> Profile:
    """The profile as replayed: only the devices with a CSV, each polled at the cadence its
    data was recorded at (coverage is judged against what the recorder sampled, not the live
    poll interval), and only the folder connectors whose exports are in the data folder."""
    devices = []
    for dev in profile.devices:
        f = data.devices.get(dev.name)
        if f is None or not dev.enabled:
            continue
        interval = f.interval_s if f.interval_s > 0 else dev.poll_interval_s
        devices.append(msgspec.structs.replace(dev, poll_interval_s=interval))
    connectors = [{**c, "path": str(data.exports[c["name"]])} for c in profile.connectors
                  if c.get("kind") == "folder" and c.get("name") in data.exports]
    return msgspec.structs.replace(profile, devices=devices, connectors=connectors)


class Replayer:
    def __init__(self, profile: Profile, data: ReplayData, device_points: dict[str, list[PointDef]],
                 store: Store, identity: Identity, state_dir: Path, transport: Transport | None,
                 speed: float | None = None, pack_every_s: float | None = None,
                 retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        self.profile = replay_profile(profile, data)
        self.data = data
        self.store = store
        self.identity = identity
        self.state_dir = state_dir
        self.speed = speed
        self.clock = SimClock(data.start)
        self.counts = Counts()
        # Only the points the history has a column for: a point declared in the profile but
        # never recorded is not observed at all, so it yields no indicators (not zeros).
        points = {name: [p for p in pts if p.name in data.devices[name].columns]
                  for name, pts in device_points.items() if name in data.devices}
        self.points_without_column = points_without_column(profile, data, device_points)
        self.engine = IndicatorEngine(store, self.profile, points)
        self.step = min(self.engine.windows)
        # Packing (and sending) at every tick is what a live gateway does; packing less
        # often makes fewer, fuller batches (the receiver's cost is mostly per batch).
        self.pack_every = max(self.step, pack_every_s or self.step)
        self._packed_at = -1.0
        self.grace = self.engine.grace_s
        self.uplink = ReplayUplink(store, transport, state_dir, retry_delays_s, identity)
        self.gate = build_gate(self.profile, state_dir, store, lambda: self.uplink.dest or "none")
        self.gate.clock = self.clock
        self.batcher = Batcher(store, identity, self.profile.uplink.batch_max_records, self.gate.policy,
                               clock=self.clock, replay=data.replay_object())
        # DIR/declarations.csv: each row joins the store at its declared time (gateway/replay/declarations.py).
        self.declarations = DeclarationFeed(store, data.declarations, lambda: _tokeniser(self.profile, state_dir))
        self.connectors: Any = None
        if self.profile.connectors:
            from gateway.connectors.runner import ConnectorRunner

            self.connectors = ConnectorRunner(self.profile, state_dir, store, settle_s=0.0)
            self.connectors.importer.clock = self.clock
        self.tz = ZoneInfo(self.profile.site.timezone)
        self.devices: dict[str, _DevicePoints] = {}
        for dev in self.profile.devices:
            defs = {p.name: p for p in points[dev.name]}
            cols = data.devices[dev.name].columns
            self.devices[dev.name] = _DevicePoints(
                [store.point(dev.name, c, defs[c].meaning, defs[c].unit) for c in cols],
                [PointQuality(defs[c], dev.ranges.get(c)) for c in cols])
        self._rows: Iterator[tuple[float, str, list[float | None]]] = merged_rows(list(data.devices.values()))
        self._next: tuple[float, str, list[float | None]] | None = next(self._rows, None)
        self._day: Any = None
        self.resumed_from: float | None = None

    # -- one tick ---------------------------------------------------------------------------
    def ingest_until(self, t: float, inclusive: bool = False) -> None:
        """Commit every row before ``t`` (or at it) as readings and polls, as the scheduler does."""
        rows: list[tuple[float, int, float | None, str]] = []
        polls: list[tuple[float, str, int, str | None]] = []
        while self._next is not None and (self._next[0] < t or (inclusive and self._next[0] == t)):
            ts, dev, values = self._next
            dp = self.devices[dev]
            got = 0
            for pr, pq, v in zip(dp.rows, dp.qualities, values, strict=True):
                if v is None:
                    rows.append((ts, pr.id, None, Quality.COMM_ERROR))
                else:
                    rows.append((ts, pr.id, v, pq.classify(ts, v)))
                    got += 1
            polls.append((ts, dev, 1 if got else 0, None if got else "no_values"))
            self.counts.failed_polls += 0 if got else 1
            self._next = next(self._rows, None)
        if rows or polls:
            self.store.add_readings(rows, polls)
            self.counts.readings += len(rows)
            self.counts.polls += len(polls)

    def tick(self, now: float, last_row: float | None = None) -> bool:
        """One tick: commit the rows recorded before ``now`` (what a live gateway's store holds at
        that moment; up to ``last_row`` at the end), then compute and pack. Returns whether it packed."""
        if last_row is None:
            self.ingest_until(now)
        else:
            self.ingest_until(last_row, inclusive=True)
        return self.compute(now, final=last_row is not None)

    def compute(self, now: float, final: bool = False) -> bool:
        """Close every window closed at ``now`` (catching up after an outage), the enterprise
        days that closed, then pack what consent lets leave (every ``pack_every``, and always
        before the recording gateway goes down or the history ends)."""
        self.clock.now = now
        marks = self._marks()
        # A window waits for its counters' closing readings, except when the history (or the
        # recording gateway's run) ends here: then what is not recorded is unobserved.
        while self.engine.run_once(now, wait_for_counters=not final) or self._marks() != marks:
            marks = self._marks()
        day = datetime.fromtimestamp(now, self.tz).date()
        if day != self._day:
            if self.connectors is not None:
                self.connectors.recompute([], now)
            self.trim()
            self._day = day
        self.declarations.due(now)
        if final or now - self._packed_at >= self.pack_every:
            pack_step(self.batcher, self.gate, now=now)
            self._packed_at = now
            return True
        return False

    def trim(self) -> int:
        """Drop raw readings and polls a day behind every computed window, once a simulated day:
        a year of history must not become a year of raw readings on disk. (The live gateway's
        retention purge runs on the real clock, so it cannot be the one used here.) Returns
        how many readings went."""
        before = self.engine.computed_until() - KEEP_BEHIND_S
        if before <= 0:
            return 0
        return readings_db.drop_before(self.store, before)

    def _marks(self) -> list[int]:
        return [int(self.store.meta_get(f"ind.wm.{w}", "0") or 0) for w in self.engine.windows]

    # -- the whole history ------------------------------------------------------------------
    def resume_point(self) -> float | None:
        """The time of the last row a stopped replay committed (rows go in whole ticks, every
        device's rows before the tick's time in one transaction), or None if it stored none."""
        return readings_db.last_poll_of(self.store, list(self.devices))

    def skip_until(self, t: float) -> int:
        """Pass over the rows at or before ``t`` (already in the store); returns how many."""
        n = 0
        while self._next is not None and self._next[0] <= t:
            self._next = next(self._rows, None)
            n += 1
        return n

    async def run(self, mode: Mode = "new") -> dict[str, Any]:
        """Replay the whole history and deliver it. ``resend``: this data was replayed completely
        before and only its undelivered batches are sent. ``resume``: a replay of this data
        stopped part-way; it goes on after the last row its store holds. What it had signed
        stays in the chain; the windows it had not closed are closed now from the stored rows,
        so the indicators are those of an uninterrupted replay, and, as after any restart,
        the boot counter moves on."""
        t_real = time.monotonic()
        head0 = self.store.outbox_head()
        ind0 = self.store.count("indicators")
        marks0: list[int] = self._marks()
        if mode == "resend":
            head0 = self.uplink.acked(head0)
            await self.uplink.deliver()
            return self.summary(head0, ind0, marks0, time.monotonic() - t_real, resent=True)
        resume_at = self.resume_point() if mode == "resume" else None
        self.resumed_from = resume_at
        if resume_at is not None:
            self.skip_until(resume_at)
            log.warning("resuming a replay that stopped part-way, after %s", iso(resume_at))
        self.store.meta_set(LAST_KEY, json.dumps({**self.data.replay_object(), "completed": False}))
        with reported_clock(REPLAY_CLOCK):
            for i, (a, b) in enumerate(self.data.up):
                if resume_at is not None and b < resume_at:
                    continue  # this stretch of history was replayed before the stop (its last row closes
                    # its windows even when it is where the replay stopped: b == resume_at is entered)
                self.clock.now = a
                if i == 0 or resume_at is not None:
                    self.engine.prime(a)  # a new store starts at the first window; a resumed one keeps its own
                    marks0 = self._marks()
                    if self.connectors is not None:  # re-importing what was imported is a no-op
                        reports = self.connectors.run_once(now=self.data.up[0][0], force=True)
                        self.counts.imports = [_import_summary(r) for r in reports]
                if i > 0 or resume_at is not None:
                    self.counts.boots += 1  # the recording gateway restarted after an outage, or we did
                self.store.bump("boot")  # as every gateway start does: batches say which run made them
                # Ticks run in a worker thread so the uplink (its own task) overlaps them.
                t = window_start(max(a, resume_at or a), self.step) + self.step + self.grace
                resume_at = None
                while t < b:
                    if await asyncio.to_thread(self.tick, t):
                        await self.uplink.start()
                    await self._pace(t_real, t)
                    t += self.step
                # The last row closes the window it ends: computed a grace after it, as live.
                await asyncio.to_thread(self.tick, b + self.grace, b)
                await self.uplink.start()
            await self.uplink.wait()
        self.store.meta_set(LAST_KEY, json.dumps({**self.data.replay_object(), "completed": True}))
        await self.uplink.deliver()
        elapsed = time.monotonic() - t_real
        return self.summary(head0, ind0, marks0, elapsed)

    async def _pace(self, t_real: float, t: float) -> None:
        if self.speed is None:
            return
        ahead = (t - self.data.start) / self.speed - (time.monotonic() - t_real)
        if ahead > 0:
            await asyncio.sleep(ahead)

    def summary(self, head0: int, ind0: int, marks0: list[int], elapsed: float,
                resent: bool = False) -> dict[str, Any]:
        days = (self.data.end - self.data.start) / 86400
        marks = self._marks()
        windows = sum((m - m0) // w for m, m0, w in zip(marks, marks0, self.engine.windows, strict=False))
        st = self.uplink.status
        down = [{"from": iso(a), "to": iso(b)} for (_, a), (b, _) in zip(self.data.up, self.data.up[1:],
                                                                            strict=False)]
        held = indicators_db.held_total(self.store)
        return {
            "gateway": self.identity.gateway_id, "enterprise": self.identity.enterprise_id,
            "replay": self.data.replay_object(), "days": round(days, 3),
            "devices": {n: {"rows": f.rows, "interval_s": f.interval_s, "from": iso(f.first), "to": iso(f.last)}
                        for n, f in sorted(self.data.devices.items())},
            "readings": self.counts.readings, "polls": self.counts.polls, "failed_polls": self.counts.failed_polls,
            "windows": windows, "indicators": self.store.count("indicators") - ind0, "held": held,
            "batches": self.store.outbox_head() - head0,
            "accepted": (st.acknowledged - st.duplicates) if st else 0, "duplicates": st.duplicates if st else 0,
            "destination": self.uplink.dest,
            "offline": down, "restarts": self.counts.boots, "imports": self.counts.imports,
            "points_without_column": self.points_without_column,
            "elapsed_s": round(elapsed, 3), "resent_only": resent,
            "declarations": {"declared": self.declarations.added, "withdrawn": self.declarations.withdrawn},
            "resumed_from": iso(self.resumed_from) if self.resumed_from is not None else None,
            "days_per_s": round(days / elapsed, 3) if elapsed > 0 and not resent else None,
        }


def _tokeniser(profile: Any, state_dir: Any) -> Any:
    from gateway.privacy.policy import load_privacy
    from gateway.privacy.tokens import site_tokeniser

    return site_tokeniser(state_dir, load_privacy(profile.privacy).key_file)
def points_without_column(profile: Profile, data: ReplayData, device_points: dict[str, list[PointDef]]
                          ) -> dict[str, list[str]]:
    """device -> its declared points the data folder has no column for (every point of an
    enabled device with no CSV): replayed as not observed, so they yield no indicators."""
    out: dict[str, list[str]] = {}
    for dev in profile.devices:
        if not dev.enabled or dev.name not in device_points:
            continue
        f = data.devices.get(dev.name)
        cols = set(f.columns) if f is not None else set()
        missing = sorted(p.name for p in device_points[dev.name] if p.name not in cols)
        if missing:
            out[dev.name] = missing
    return out


def _import_summary(r: Any) -> dict[str, Any]:
    return {"connector": r.connector, "source": r.source, "status": r.status, "rows_ok": r.rows_ok,
            "quarantined": len(r.quarantined), "error": r.error}


def parse_speed(text: str) -> float | None:
    """``max`` (as fast as possible) or simulated seconds per real second (e.g. 3600)."""
    if text == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"--speed is 'max' or simulated seconds per second, not {text!r}") from None
    if not v > 0:
        raise ValueError(f"--speed must be positive, not {text!r}")
    return v

