"""A small synthetic factory for rule tests, delivered through the receiver's real ingest.

The factory writes indicator records shaped exactly like the gateway's
(``gateway.uplink.batcher.indicator_record``), packs them into signed batches (one
category per batch, at most 500 records, as the batcher does) with a real key, and feeds
them to ``cloud_stub.ingest.ingest``. Nothing of ours is mocked: the rules then read what
the receiver stored, through ``load_rule_inputs``.

Honest defaults carry the noise a real site has: day-to-day output ±10 %, weekends off,
camera miss rate 2-4 %, scrap ~2 %, hourly energy noise ±10 %, MES reported per day.
Injections are keyword options (see :class:`Factory`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cloud_helpers import FakeGateway

from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import enroll, issue_token
from cloud_stub.ingest import ingest
from cloud_stub.rule_inputs import RuleInputs, load_rule_inputs
from gateway import wire
from gateway.uplink.batcher import indicator_record

TZ_OFFSET = 8 * 3600  # the site is at UTC+8
DAY0 = 1788192000  # local midnight of Tue 2026-09-01 at UTC+8 (16:00 UTC the day before)
H = 3600


def rec(name: str, category: str, subject: str, start: int, length: int, value: float | None, unit: str = "",
        q: list[str] | None = None, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """One record as the gateway's batcher writes it."""
    return indicator_record({"name": name, "category": category, "subject": subject, "window_start": start,
                             "window_len": length, "value": value, "unit": unit, "quality": json.dumps(q or []),
                             "version": 1, "detail": json.dumps(detail) if detail else None})


def enrolled(rdb: ReceiverDB, gw: FakeGateway) -> FakeGateway:
    token = issue_token(rdb, gw.enterprise)["token"]
    r = gw.enroll_request(token)
    enroll(rdb, r["token"], r["gateway_id"], r["public_key"], r["proof"])
    return gw


def push(rdb: ReceiverDB, gw: FakeGateway, records: list[dict[str, Any]], per_batch: int = 500,
         **extra: Any) -> int:
    """Send records as signed batches, one category per batch; returns how many batches."""
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_cat.setdefault(r["category"], []).append(r)
    n = 0
    for cat in sorted(by_cat):
        items = by_cat[cat]
        for i in range(0, len(items), per_batch):
            b = gw.next(records=items[i:i + per_batch], **extra)
            res = ingest(rdb, b.envelope())
            assert res.status == "accepted", res.to_json()
            n += 1
    return n


def evidence(rdb: ReceiverDB, enterprise: str = "ent-1", start: int = DAY0, end: int | None = None,
             days: int = 28) -> RuleInputs:
    end = start + days * 86400 if end is None else end
    with rdb.read() as conn:
        mr = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]
        mf = conn.execute("SELECT coalesce(max(id), 0) FROM findings").fetchone()[0]
        return load_rule_inputs(conn, enterprise, start, end, mr, mf)


@dataclass
class Factory:
    """A press shop with two presses, a line camera, a dispatch door camera and a pledged pallet stack.

    Injections (all default to honest):
      mes_factor(day) -> multiplier on MES quantities (inflation);
      run_factor(day) -> multiplier on MES run minutes;
      stopped: days the machines stand still (idle power, no cycles, no camera counts);
      claim_when_stopped: MES still reports normal output on stopped days;
      unclaimed: production days the MES reports as 0;
      offline: (day, first_hour, last_hour) spans with no device records at all;
      ship_no_move: days with an ERP shipment but no dispatch count;
      removal: (day, hour, kg) pallet weight drop with no stock move;
      geofence_exit: (day, hour, hours_outside);
      excursion: {day: minutes outside per hour for 6 hours};
      unsynced: hours (absolute index) whose data.clock_synced is 0.
    """

    days: int = 28
    seed: int = 1
    units: float = 2000.0
    mes_factor: Callable[[int], float] = lambda d: 1.0
    output_factor: Callable[[int], float] = lambda d: 1.0  # real output (machines and MES alike)
    run_factor: Callable[[int], float] = lambda d: 1.0
    stopped: set[int] = field(default_factory=set)
    claim_when_stopped: bool = False
    unclaimed: set[int] = field(default_factory=set)
    offline: list[tuple[int, int, int]] = field(default_factory=list)
    ship_no_move: set[int] = field(default_factory=set)
    ship_factor: Callable[[int], float] = lambda d: 1.0  # multiplier on ERP shipped quantities (phantom notes)
    removal: tuple[int, int, float] | None = None
    geofence_exit: tuple[int, int, int] | None = None
    excursion: dict[int, float] = field(default_factory=dict)
    unsynced: set[int] = field(default_factory=set)
    cavities: dict[str, int] = field(default_factory=lambda: {"press-1": 4, "press-2": 2})
    line_camera: bool = True
    dispatch_camera: bool = True
    # Subjects of the line and dispatch cameras, and whether their records declare the role
    # (detail.role, from the profile's params.role) instead of relying on the names.
    camera_subjects: tuple[str, str] = ("line-1", "dispatch")
    declare_roles: bool = False
    # Honest realism: day-level energy noise (material, temperature), a share of each day's
    # output booked by the MES on the next day, holidays in mid-week, half-day Saturdays.
    day_energy_sd: float = 0.07
    late_booking: float = 0.05
    holidays: set[int] = field(default_factory=lambda: {30, 31, 32})
    # How an outage looks: no records at all (False), or what a gateway computing windows
    # after a restart sends: counters 0 flagged no_data, coverage 0 % (True).
    offline_as_no_data: bool = False

    def is_workday(self, d: int) -> bool:
        # day 0 is a Tuesday: days 4, 5 (Sat, Sun), 11, 12, ... are off, and so are holidays
        return d % 7 not in (4, 5) and d not in self.holidays

    def offline_at(self, d: int, h: int) -> bool:
        return any(d == od and a <= h <= b for od, a, b in self.offline)

    def records(self) -> list[dict[str, Any]]:
        rng = np.random.default_rng(self.seed)
        out: list[dict[str, Any]] = []
        weight = 1850.0
        outside_left = 0
        carried = 0.0  # output of the previous day the MES books today
        for d in range(self.days):
            day_start = DAY0 + d * 86400
            work = self.is_workday(d)
            planned = self.units * self.output_factor(d) * float(rng.uniform(0.9, 1.1)) if work else 0.0
            if work and d % 7 == 3 and rng.uniform() < 0.5:
                planned *= 0.5  # a short Friday now and then
            day_energy = float(rng.normal(1.0, self.day_energy_sd))
            made = 0.0 if d in self.stopped else planned
            scrap_rate = float(rng.uniform(0.01, 0.03))
            miss = float(rng.uniform(0.02, 0.04))
            run_total = 0.0
            cam_day = 0.0
            for h in range(24):
                t = day_start + h * H
                hour_units = made / 12 if 8 <= h < 20 else 0.0
                if self.offline_at(d, h):
                    if self.offline_as_no_data:
                        for asset in ("press-1", "press-2"):
                            out.append(rec("energy.kwh", "energy", asset, t, H, 0.0, "kWh", q=["no_data"]))
                            out.append(rec("machine.cycles", "machine", asset, t, H, 0.0, "count", q=["no_data"],
                                           detail={"cavities": self.cavities[asset]}
                                           if asset in self.cavities else None))
                            out.append(rec("data.coverage_pct", "data_quality", f"{asset}-meter", t, H, 0.0, "%"))
                    continue
                for asset, share, idle_kw, kwh_unit in (("press-1", 0.5, 1.5, 0.5), ("press-2", 0.5, 1.2, 0.4)):
                    u = hour_units * share
                    kwh = (idle_kw + kwh_unit * u * day_energy) * float(rng.normal(1.0, 0.05))
                    out.append(rec("energy.kwh", "energy", asset, t, H, round(kwh, 3), "kWh"))
                    on = min(60.0, 60.0 * float(rng.uniform(0.85, 0.97))) if u > 0 else 0.0
                    run_total += on
                    out.append(rec("machine.on_minutes", "machine", asset, t, H, round(on, 3), "min",
                                   detail={"observed_min": 60.0}))
                    cav = self.cavities.get(asset)
                    cyc = round(u / cav) if cav else round(u / 3)
                    out.append(rec("machine.cycles", "machine", asset, t, H, float(cyc), "count",
                                   detail={"cavities": cav} if cav else None))
                    out.append(rec("data.coverage_pct", "data_quality", f"{asset}-meter", t, H,
                                   round(float(rng.uniform(98.5, 100.0)), 2), "%"))
                if self.line_camera:
                    cam = float(rng.binomial(int(hour_units * (1 - scrap_rate)), 1 - miss)) if hour_units else 0.0
                    cam_day += cam
                    out.append(rec("vision.units_out", "vision", self.camera_subjects[0], t, H, cam, "units",
                                   detail={"role": "line"} if self.declare_roles else None))
                ship_hour = 9 <= h < 17 and work and d > 0 and d not in self.ship_no_move
                disp = float(rng.binomial(int(self.units * 0.95 / 8), 1 - miss)) if ship_hour else 0.0
                if self.dispatch_camera:
                    out.append(rec("vision.units_out", "vision", self.camera_subjects[1], t, H, disp, "units",
                                   detail={"role": "dispatch"} if self.declare_roles else None))
                # Pledged pallet stack: weight, drift, steps, geofence.
                step = self.removal is not None and (d, h) == self.removal[:2]
                if step:
                    assert self.removal is not None
                    weight -= self.removal[2]
                w = weight + float(rng.normal(0, 1.5))
                out.append(rec("collateral.weight_kg", "collateral", "pallet-stack-1", t, H, round(w, 2), "kg"))
                drift = 100 * (w - 1850.0) / 1850.0
                out.append(rec("collateral.drift_pct", "collateral", "pallet-stack-1", t, H, round(drift, 4), "%",
                               q=["beyond_tolerance"] if abs(drift) > 2 else [], detail={"tolerance_pct": 2.0}))
                out.append(rec("collateral.unexplained_changes", "collateral", "pallet-stack-1", t, H,
                               1.0 if step else 0.0, "count", q=["unexplained_change"] if step else [],
                               detail={"steps": 1 if step else 0,
                                       "unexplained_kg": -self.removal[2] if step and self.removal else 0.0}))
                exits = 0.0
                if self.geofence_exit is not None and (d, h) == self.geofence_exit[:2]:
                    exits, outside_left = 1.0, self.geofence_exit[2]
                inside = 0.0 if outside_left > 0 else 1.0
                outside_left = max(0, outside_left - 1)
                out.append(rec("collateral.geofence_exits", "collateral", "pallet-stack-1", t, H, exits, "count"))
                out.append(rec("collateral.inside_geofence", "collateral", "pallet-stack-1", t, H, inside, "bool",
                               q=[] if inside else ["outside"],
                               detail={"inside_pct": 100.0 if inside else 0.0}))
                ex = self.excursion.get(d, 0.0) if 10 <= h < 16 else 0.0
                out.append(rec("env.temp_c_outside_min", "env", "warehouse", t, H, ex, "min",
                               detail={"range": [5.0, 30.0], "unobserved_min": 0.0}))
                synced = 0.0 if d * 24 + h in self.unsynced else 1.0
                out.append(rec("data.clock_synced", "data_quality", "gateway", t, H, synced, "bool",
                               detail={"sampled_at_compute": True}))
            # The MES and ERP figures for the day (what the enterprise claims).
            claimed = planned if (d not in self.stopped or self.claim_when_stopped) else 0.0
            if d in self.unclaimed:
                claimed = 0.0
            booked_late = claimed * self.late_booking
            claimed, carried = claimed - booked_late + carried, booked_late
            claimed *= self.mes_factor(d)
            good = round(claimed * (1 - scrap_rate))
            scrap = round(claimed) - good
            q = [] if claimed else ["no_rows"]
            det = {"period": "day"}
            out.append(rec("mes.good_qty", "mes", "enterprise", day_start, 86400, float(good), "count", q, det))
            out.append(rec("mes.scrap_qty", "mes", "enterprise", day_start, 86400, float(scrap), "count", q, det))
            if claimed:
                out.append(rec("mes.produced_qty", "mes", "product:p1", day_start, 86400,
                               float(round((good + scrap) * 0.6)), "count", [], det))
                out.append(rec("mes.produced_qty", "mes", "product:p2", day_start, 86400,
                               float(good + scrap - round((good + scrap) * 0.6)), "count", [], det))
            run = run_total if d not in self.stopped else (1320.0 if self.claim_when_stopped and work else 0.0)
            if d in self.unclaimed:
                run = 0.0
            run *= float(rng.uniform(0.97, 1.03)) * self.run_factor(d)
            out.append(rec("mes.run_min", "mes", "enterprise", day_start, 86400, round(run, 2), "min", q, det))
            shipped = round(self.units * 0.95 * self.ship_factor(d)) if work and d > 0 else 0.0
            out.append(rec("erp.shipped_qty", "erp", "enterprise", day_start, 86400, float(shipped), "units",
                           [] if shipped else ["no_rows"], det))
        return out


def build(rdb: ReceiverDB, factory: Factory, gw: FakeGateway | None = None, **extra: Any) -> FakeGateway:
    gw = enrolled(rdb, gw or FakeGateway())
    push(rdb, gw, factory.records(), **extra)
    return gw


def signed(gw: FakeGateway, records: list[dict[str, Any]], **extra: Any) -> bytes:
    return wire.sign_body(gw.body(gw.seq + 1, gw.prev, records, **extra), gw.key).envelope()
