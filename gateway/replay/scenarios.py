"""Synthetic factory histories in exactly the replay folder layout (docs/replay.md).

The factory is hardware_profiles/sim-history: one injection press (4 cavities) with its
meter, PLC cycle counter and a camera counting parts off the conveyor; a compressor; a
dispatch-door camera counting cartons out; a pledged pallet stack on a load-cell platform
with a GNSS tag; the warehouse climate; the MES daily production export and the ERP's
orders, shipments and stock moves.

The physical history is simulated slot by slot (``interval_s``): a day shift on working
days (Mon-Fri, not the profile's holidays), a lunch stop, random stoppages, idle base
load off shift, energy noise (±10 % a sample, ±5 % a day), camera miss rate (a few %),
scrap. The MES and ERP report what happened, and then a scenario changes what the
*records* say, or what the recorder saw:

* ``honest``: nothing changed;
* ``inflated``: from ``onset`` on, MES output and ERP shipments are inflated (×1.35)
  while energy and camera counts stay as they were;
* ``drift``: from ``onset`` on, MES output grows by ``drift_per_day`` (1 %) a day;
* ``collateral_removed``: at ``onset`` 10:00, 600 kg leave the pledged stack with no
  stock move and no shipment;
* ``offline``: the gateway is off for ``offline_days`` from ``onset`` (no device rows at
  all) while the MES keeps reporting production.

Random streams are seeded per component from ``seed``, so the physical history of a seed
is the same in every scenario: the scenarios differ only by their injected pattern.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.profile import load_profile
from gateway.replay.data import EXPORTS

SCENARIOS = ("honest", "inflated", "drift", "collateral_removed", "offline", "phantom_shipments", "idle_claims",
             "collateral_steps", "slow_payers", "order_stall", "revenue_drop", "concentrated", "late_orders")
# Repayment-capacity patterns (docs/replay.md): they change only the ERP's finance records and
# always write the receivables and purchases exports, which need the sim-history-finance profile.
FINANCE_SCENARIOS = ("slow_payers", "order_stall", "revenue_drop", "concentrated", "late_orders")
FINANCE_PROFILE = "sim-history-finance"
SUPPLIERS = ("常州塑化原料有限公司", "无锡模具钢材", "宁波包装材料厂", "昆山五金配件", "嘉兴物流服务", "南通色母粒")
PREHISTORY_DAYS = 120  # invoices issued before the history starts: an open book in steady state
PLANTS = ("basic", "realistic")
# What ``--size`` means per pattern, its default, and the unit the manifest records it in.
SIZES: dict[str, tuple[str, float]] = {
    "inflated": ("claims inflation as a fraction (0.15 = MES output and ERP shipments +15 %)", 0.35),
    "drift": ("MES output growth per day as a fraction (0.01 = +1 % a day, cumulative)", 0.01),
    "collateral_removed": ("share of the pledged stack removed at once", 600.0 / 1850.0),
    "collateral_steps": ("share of the pledged stack removed in five steps, one a working day", 0.10),
    "offline": ("days the gateway is off while the MES reports", 4.0),
    "phantom_shipments": ("size of a phantom shipment as a share of that day's real shipments", 0.5),
    "idle_claims": ("claims while idle as a share of the plant's typical day", 1.0),
    "slow_payers": ("share of payments due from the onset on that never arrive", 0.9),
    "order_stall": ("share of orders produced from the onset on that are never shipped or invoiced", 1.0),
    "revenue_drop": ("share of the orders booked from the onset on that shrink to a tenth", 0.8),
    "concentrated": ("share of orders going to one customer", 0.85),
    "late_orders": ("share of the orders placed from the onset on that are promised 3-10 days sooner than the plant "
                    "ships", 0.6),
}
# Parts per carton counted at the dispatch door, per product, when packs are mixed.
PACKS = {"外壳 HS-12": 24, "端盖 EC-30": 60, "卡扣 CL-05": 200}
PROFILE = "sim-history"
PRODUCTS = {"外壳 HS-12": 3.80, "端盖 EC-30": 2.10, "卡扣 CL-05": 0.65}  # product -> unit price CNY
CUSTOMERS = ("宁波精工机械有限公司", "上海汽车零部件有限公司", "苏州博远汽配", "杭州联创电器")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class ScenarioConfig:
    scenario: str = "honest"
    days: int = 35
    seed: int = 1
    start: date = date(2026, 9, 7)  # a Monday
    interval_s: int = 300
    onset_day: int | None = None  # day index the pattern starts (default per scenario)
    inflation: float = 1.35
    drift_per_day: float = 0.01
    removed_kg: float = 600.0
    offline_days: int = 4
    carton_size: int = 24  # parts per carton at the dispatch door
    cavities: int = 4
    cycle_s: float = 28.0
    plant: str = "basic"  # "realistic": the calibration plant (shifts, outages, scale drift, ...; see Realism)
    size: float | None = None  # the pattern's size in its unit (SIZES); None: the pattern's default
    finance: bool = False  # also write receivables and purchases exports (always for FINANCE_SCENARIOS)
    packs: str = "uniform"  # "mixed": cartons of PACKS[product] parts (needs a product master to compare)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario is one of {SCENARIOS}, not {self.scenario!r}")
        if self.plant not in PLANTS:
            raise ValueError(f"plant is one of {PLANTS}, not {self.plant!r}")
        if self.onset_day is not None and not 0 <= self.onset_day < self.days:
            raise ValueError(f"onset_day must be a day index in 0..{self.days - 1}, not {self.onset_day!r}")
        if self.packs not in ("uniform", "mixed"):
            raise ValueError(f"packs is 'uniform' or 'mixed', not {self.packs!r}")
        if self.size is not None:
            if not (math.isfinite(self.size) and self.size >= 0):
                raise ValueError(f"size must be a finite number >= 0, not {self.size!r}")
            if self.scenario == "inflated":
                self.inflation = 1.0 + self.size
            elif self.scenario == "drift":
                self.drift_per_day = self.size
            elif self.scenario == "collateral_removed":
                self.removed_kg = round(self.size * 1850.0, 1)
            elif self.scenario == "offline":
                self.offline_days = max(1, round(self.size))

    @property
    def has_finance(self) -> bool:
        return self.finance or self.scenario in FINANCE_SCENARIOS

    def pattern_size(self) -> float | None:
        """The injected pattern's size in its SIZES unit (None for honest plants)."""
        if self.scenario == "honest":
            return None
        if self.size is not None:
            return self.size
        return {"inflated": self.inflation - 1.0, "drift": self.drift_per_day,
                "collateral_removed": self.removed_kg / 1850.0,
                "offline": float(self.offline_days)}.get(self.scenario, SIZES[self.scenario][1])

    def onset(self) -> int:
        if self.onset_day is not None:
            return self.onset_day
        default = {"inflated": max(14, self.days // 2), "drift": max(10, self.days // 3),
                   "collateral_removed": max(1, self.days - 10), "offline": max(14, self.days // 2),
                   "phantom_shipments": max(14, self.days - 14), "idle_claims": max(14, self.days - 14),
                   "collateral_steps": max(1, self.days - 10), "slow_payers": max(7, self.days // 4),
                   "order_stall": max(14, self.days - 10), "revenue_drop": max(14, self.days - 14),
                   "late_orders": max(14, self.days - 14)}
        return min(default.get(self.scenario, 0), max(0, self.days - 1))


@dataclass
class Day:
    """What physically happened on one local day, and what the records claim."""

    day: date
    working: bool
    parts: int = 0
    scrap: int = 0
    run_min: float = 0.0
    claimed_good: int = 0
    claimed_scrap: int = 0
    shipments: list[dict[str, Any]] = field(default_factory=list)
    claimed_run_min: float | None = None  # what the MES books as run time (None: the physical run time)


@dataclass
class Realism:
    """What makes a ``realistic`` plant differ from the basic one, drawn once per seed.

    Why each is there: the honest plant a bank sees is never clean. Shifts and overtime move
    the working pattern; short gateway outages leave gaps after which the meter registers
    jump (the meters kept counting); the load cell drifts, breathes with the temperature and
    now and then carries a forklift resting on the stack for minutes; the MES counts a little
    differently from the cameras and books some output a day late.
    """

    shift: tuple[float, float]  # working hours, local
    saturdays: set[date]  # overtime Saturdays (half a shift)
    extra_holidays: set[date]  # a bridge day or two the profile does not declare
    outages: list[tuple[float, float]]  # honest gateway outages (epoch s), no rows recorded
    scale_drift_per_day: float  # fraction of the stack per day (load-cell creep)
    scale_diurnal: float  # fraction of the stack, amplitude of the temperature effect
    forklifts: dict[date, tuple[float, float, float]]  # day -> (start hour, minutes, kg resting on the stack)
    mes_noise: float  # day-level relative counting difference of the MES (sd)
    late_booking: dict[date, float]  # day -> share of its good output the MES books on the next working day

    def as_json(self) -> dict[str, Any]:
        return {"shift": list(self.shift), "saturdays": sorted(d.isoformat() for d in self.saturdays),
                "extra_holidays": sorted(d.isoformat() for d in self.extra_holidays),
                "outages": [list(o) for o in self.outages], "scale_drift_pct_per_day": 100 * self.scale_drift_per_day,
                "scale_diurnal_pct": 100 * self.scale_diurnal,
                "forklifts": {d.isoformat(): list(v) for d, v in sorted(self.forklifts.items())},
                "mes_noise_pct": 100 * self.mes_noise,
                "late_booking": {d.isoformat(): v for d, v in sorted(self.late_booking.items())}}


class Factory:
    def __init__(self, cfg: ScenarioConfig) -> None:
        if cfg.scenario not in SCENARIOS:
            raise ValueError(f"scenario is one of {SCENARIOS}, not {cfg.scenario!r}")
        self.cfg = cfg
        prof = load_profile(PROFILE)
        self.tz = ZoneInfo(prof.site.timezone)
        self.holidays = {date.fromisoformat(d) for d in prof.shifts.get("holidays", [])}
        shift = prof.shifts["shift"][0]
        self.shift_days = {WEEKDAYS.index(d) for d in shift["days"]}
        self.shift = (_hm(shift["start"]), _hm(shift["end"]))
        self.baseline_kg = float(prof.collateral["pledges"][0]["baseline_kg"])
        self.rng = {k: random.Random(f"{cfg.seed}:{k}") for k in ("press", "energy", "cam", "mes", "erp", "env",
                                                                   "scale")}
        self.onset = cfg.onset()
        self.days = [cfg.start + timedelta(days=i) for i in range(cfg.days)]
        self.offline: tuple[float, float] | None = None
        if cfg.scenario == "offline":
            a = self.midnight(self.days[self.onset])
            self.offline = (a, a + cfg.offline_days * 86400)
        self.real = self.draw_realism() if cfg.plant == "realistic" else None
        self.fraud = random.Random(f"{cfg.seed}:fraud")
        self.phantom_days: list[date] = []
        self.removals: list[dict[str, Any]] = []

    def draw_realism(self) -> Realism:
        """The plant's own quirks, from its own random stream (the basic plant draws none)."""
        rng = random.Random(f"{self.cfg.seed}:plant")
        start = rng.choice((6.0, 7.0, 8.0))
        shift = (start, start + rng.choice((10.0, 12.0, 14.0)))
        weekdays = [d for d in self.days if d.weekday() < 5 and d not in self.holidays]
        saturdays = {d for d in self.days if d.weekday() == 5 and rng.random() < 0.2}
        extra = {rng.choice(weekdays[10:])} if len(weekdays) > 20 and rng.random() < 0.5 else set()
        outages = []
        for _ in range(rng.randint(0, 2)):
            at = self.midnight(rng.choice(self.days[2:] or self.days)) + rng.uniform(0, 86400)
            outages.append((at, at + rng.uniform(1, 5) * 3600))
        forklifts = {d: (rng.uniform(shift[0] + 0.5, shift[1] - 1.0), rng.uniform(2, 20), rng.uniform(800, 3000))
                     for d in weekdays if rng.random() < 3 / 22}
        late = {d: rng.uniform(0.05, 0.15) for d in weekdays if rng.random() < 0.1}
        return Realism(shift, saturdays, extra, sorted(outages), rng.uniform(-0.0005, 0.0005), rng.uniform(0, 0.0003),
                       forklifts, rng.uniform(0.002, 0.01), late)

    def midnight(self, d: date) -> float:
        return datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp()

    def working(self, d: date) -> bool:
        if self.real is not None:
            if d in self.real.saturdays:
                return True
            if d in self.real.extra_holidays:
                return False
        return d.weekday() in self.shift_days and d not in self.holidays

    def hours(self, d: date) -> tuple[float, float]:
        """The day's working hours (the profile's shift; a realistic plant its own, half on a Saturday)."""
        if self.real is None:
            return self.shift
        a, b = self.real.shift
        return (a, a + 6.0) if d in self.real.saturdays else (a, b)

    def idle(self, i: int) -> bool:
        return self.cfg.scenario == "idle_claims" and i >= self.onset

    def recorded(self, ts: float) -> bool:
        """Whether the gateway recorded at ``ts`` (off during the offline pattern and honest outages)."""
        if self.offline and self.offline[0] <= ts < self.offline[1]:
            return False
        return not (self.real is not None and any(a <= ts < b for a, b in self.real.outages))

    def pack(self, product: str) -> int:
        return PACKS[product] if self.cfg.packs == "mixed" else self.cfg.carton_size

    def removal_plan(self) -> dict[int, list[tuple[float, float]]]:
        """Day index -> [(hour, kg)] of unrecorded removals from the pledged stack."""
        cfg = self.cfg
        if cfg.scenario == "collateral_removed":
            return {self.onset: [(10.0, cfg.removed_kg)]}
        if cfg.scenario != "collateral_steps":
            return {}
        total = (cfg.size if cfg.size is not None else SIZES["collateral_steps"][1]) * self.baseline_kg
        plan: dict[int, list[tuple[float, float]]] = {}
        i = self.onset
        while len(plan) < 5 and i < len(self.days):
            if self.working(self.days[i]) or not plan:
                plan[i] = [(self.fraud.uniform(9.0, 17.0), round(total / 5, 1))]
            i += 1
        return plan

    # -- the physical history ---------------------------------------------------------------
    def simulate(self, out: Path) -> list[Day]:
        cfg = self.cfg
        r = self.rng
        writers = _Writers(out)
        kwh_press, kwh_comp, cycles = 18_234.5, 40_512.0, 1_204_332
        line_out, door_out, door_in = 0, 0, 0
        weight_offset = 0.0
        moves: list[dict[str, Any]] = []
        history: list[Day] = []
        step_h = cfg.interval_s / 3600
        stop_left = 0
        carton_parts = 0
        removals = self.removal_plan()
        for i, d in enumerate(self.days):
            work = self.working(d)
            rec = Day(d, work)
            shift = self.hours(d)
            cycle_s = cfg.cycle_s * r["press"].uniform(0.97, 1.03)
            miss = r["cam"].uniform(0.01, 0.04)
            door_miss = r["cam"].uniform(0.0, 0.03)
            scrap_rate = r["press"].uniform(0.015, 0.035)
            day_energy = r["energy"].uniform(0.95, 1.05)  # material, mould temperature, ambient
            ships = self.plan_shipments(d, history) if work else []
            ship_slots: dict[int, list[dict[str, Any]]] = {}
            for s in ships:  # two trucks can leave in the same slot: both are counted
                ship_slots.setdefault(int(s["at_h"] * 3600 // cfg.interval_s), []).append(s)
            move_slots: dict[int, tuple[str, float]] = {}
            if work and d.weekday() == 2:  # Wednesdays: 300 kg taken out in the morning, back in the afternoon
                move_slots[int(10 * 3600 // cfg.interval_s)] = ("out", 300.0)
                move_slots[int(15 * 3600 // cfg.interval_s)] = ("in", 300.0)
            removal_slots = {int(h * 3600 // cfg.interval_s): kg for h, kg in removals.get(i, [])}
            fork = self.real.forklifts.get(d) if self.real is not None else None
            t0 = self.midnight(d)
            for k in range(int(86400 // cfg.interval_s)):
                ts = t0 + (k + 1) * cfg.interval_s  # the reading at the end of the slot
                hour = (k * cfg.interval_s) / 3600
                in_shift = work and shift[0] <= hour < shift[1]
                lunch = 12.0 <= hour < 12.75
                if in_shift and not lunch and not self.idle(i):
                    if stop_left > 0:
                        stop_left -= 1
                        run = 0.0
                    elif r["press"].random() < 0.015:
                        stop_left = r["press"].randint(1, 6)
                        run = r["press"].uniform(0.2, 0.8)
                    else:
                        run = 1.0
                else:
                    run, stop_left = 0.0, 0
                n = _poisson(r["press"], run * cfg.interval_s / cycle_s) if run > 0 else 0
                cycles += n
                parts = n * cfg.cavities
                scrap = _binomial(r["press"], parts, scrap_rate)
                rec.parts += parts
                rec.scrap += scrap
                rec.run_min += run * cfg.interval_s / 60
                line_out += parts - _binomial(r["cam"], parts, miss)
                noise = day_energy * r["energy"].uniform(0.9, 1.1)
                p_press = (24.0 * run + (5.0 if in_shift else 1.2) * (1 - run)) * noise
                p_comp = ((7.5 * run + 2.2 * (1 - run)) if in_shift else 0.3) * day_energy
                p_comp *= r["energy"].uniform(0.9, 1.1)
                kwh_press += p_press * step_h
                kwh_comp += p_comp * step_h
                for s in ship_slots.get(k, ()):
                    cartons = math.ceil(s["physical_qty"] / self.pack(s["product"]))
                    door_out += cartons - _binomial(r["cam"], cartons, door_miss)
                    carton_parts += s["physical_qty"]
                if k in move_slots:
                    direction, kg = move_slots[k]
                    weight_offset += -kg if direction == "out" else kg
                    local = datetime.fromtimestamp(ts, self.tz)
                    moves.append({"单号": f"MV-{d:%m%d}-{len(moves) + 1:03d}", "时间": f"{local:%Y-%m-%d %H:%M}",
                                  "方向": "出库" if direction == "out" else "入库", "重量": f"{kg:.0f}",
                                  "库位": "pallet-stack-1"})
                if k in removal_slots:
                    weight_offset -= removal_slots[k]
                    self.removals.append({"at": ts, "kg": removal_slots[k]})
                if not self.recorded(ts):
                    continue  # the gateway was off: nothing recorded (the meters keep counting)
                stamp = datetime.fromtimestamp(ts, self.tz).isoformat()
                writers.row("press-1-meter", stamp, import_kwh=f"{kwh_press:.3f}", power_total=f"{p_press:.2f}")
                writers.row("press-1-plc", stamp, cycles=cycles, running=1 if run >= 0.5 else 0)
                writers.row("cam-line-1", stamp, conveyor_in=0, conveyor_out=line_out, line_active=1 if run else 0,
                            camera_up=1)
                writers.row("compressor-meter", stamp, import_kwh=f"{kwh_comp:.3f}", power_total=f"{p_comp:.2f}")
                writers.row("cam-dispatch", stamp, door_in=door_in, door_out=door_out, line_active=0, camera_up=1)
                w = self.baseline_kg + weight_offset + r["scale"].gauss(0, 0.8)
                if self.real is not None:
                    w += self.scale_artefacts(ts, t0, hour, fork)
                writers.row("pallet-scale", stamp, weight=f"{w:.1f}")
                writers.row("pallet-gnss", stamp, gnss_fix=1, inside_geofence=1, geofence_exits=0)
                temp, rh = self.climate(r["env"], hour, i)
                writers.row("warehouse-climate", stamp, temperature=f"{temp:.2f}", humidity=f"{rh:.1f}")
            rec.claimed_good, rec.claimed_scrap = self.claimed(i, rec, history)
            rec.shipments = ships
            history.append(rec)
        writers.close()
        if self.real is not None:
            self.mes_differences(history)
        self.moves = moves
        return history

    @staticmethod
    def climate(rng: random.Random, hour: float, day: int) -> tuple[float, float]:
        phase = math.sin(2 * math.pi * (hour - 9) / 24)
        temp = 21.0 + 0.05 * (day % 7) + 2.5 * phase + rng.gauss(0, 0.15)
        rh = 55.0 - 6.0 * phase + rng.gauss(0, 0.6)
        return temp, rh

    def scale_artefacts(self, ts: float, t0: float, hour: float, fork: tuple[float, float, float] | None) -> float:
        """kg the load cell adds to the true weight: creep, temperature, a forklift resting on the stack."""
        assert self.real is not None
        kg = self.baseline_kg * (self.real.scale_drift_per_day * (ts - self.midnight(self.days[0])) / 86400
                                 + self.real.scale_diurnal * math.sin(2 * math.pi * (hour - 9) / 24))
        if fork is not None:
            a = t0 + fork[0] * 3600
            if a <= ts - self.cfg.interval_s / 2 < a + fork[1] * 60:
                kg += fork[2]
        return kg

    def typical_day(self, history: list[Day]) -> tuple[int, float]:
        """Good output and run minutes of a typical working day before the onset (for idle claims)."""
        base = [h for h in history[: self.onset] if h.working and h.parts > 0]
        if not base:
            return 0, 0.0
        goods = sorted(h.parts - h.scrap for h in base)
        runs = sorted(h.run_min for h in base)
        return goods[len(goods) // 2], runs[len(runs) // 2]

    def mes_differences(self, history: list[Day]) -> None:
        """The MES counts a little differently (day-level noise) and books some output a day late."""
        assert self.real is not None
        rng = random.Random(f"{self.cfg.seed}:mes-diff")
        carry = 0
        for h in history:
            if not h.working:
                continue
            good = round(h.claimed_good * (1 + rng.gauss(0, self.real.mes_noise))) + carry
            late = round(good * self.real.late_booking.get(h.day, 0.0))
            h.claimed_good, carry = good - late, late

    def claimed(self, i: int, rec: Day, history: list[Day] | None = None) -> tuple[int, int]:
        """What the MES reports for the day: the truth, times the scenario's factor (an idle
        plant claims a typical day's output and run time on its working days)."""
        if self.idle(i):
            if not rec.working:
                return 0, 0
            good, run = self.typical_day(history or [])
            f = (self.cfg.size if self.cfg.size is not None else 1.0) * self.fraud.uniform(0.9, 1.1)
            rec.claimed_run_min = run * min(f, 1.0)
            return round(good * f), round(good * f * 0.025)
        good, scrap = rec.parts - rec.scrap, rec.scrap
        f = self.factor(i)
        return round(good * f), scrap

    def factor(self, i: int) -> float:
        cfg = self.cfg
        if cfg.scenario == "inflated" and i >= self.onset:
            return cfg.inflation
        if cfg.scenario == "drift" and i >= self.onset:
            return 1.0 + cfg.drift_per_day * (i - self.onset + 1)
        return 1.0

    def plan_shipments(self, d: date, history: list[Day]) -> list[dict[str, Any]]:
        """Ship yesterday's good output (the last working day's) in 1-3 shipments; the ERP
        records them (inflated in the ``inflated`` scenario), the door camera sees the truth."""
        rng = self.rng["erp"]
        last = next((h for h in reversed(history) if h.working), None)
        if last is None:
            return []
        i = self.days.index(d)
        idle = self.idle(i) or (bool(history) and self.idle(i - 1))
        total = last.claimed_good if idle else last.parts - last.scrap
        if total <= 0:
            return []
        n = rng.randint(1, 3)
        cuts = sorted(rng.uniform(0.2, 0.8) for _ in range(n - 1))
        shares = [b - a for a, b in zip([0.0, *cuts], [*cuts, 1.0], strict=True)]
        f = self.cfg.inflation if self.cfg.scenario == "inflated" and i >= self.onset else 1.0
        out = []
        for j, share in enumerate(shares):
            qty = int(total * share)
            if qty <= 0:
                continue
            out.append({"ship_no": f"DN-{d:%Y%m%d}-{j + 1}", "date": d, "customer": rng.choice(CUSTOMERS),
                        "product": rng.choice(list(PRODUCTS)), "physical_qty": 0 if idle else qty,
                        "qty": round(qty * f), "at_h": rng.uniform(9.0, 17.0)})
        if self.cfg.scenario == "phantom_shipments" and i >= self.onset and out and self.fraud.random() < 0.5:
            # A few days a week, a fake delivery note on a day that also had a real truck.
            share = self.cfg.size if self.cfg.size is not None else SIZES["phantom_shipments"][1]
            fake = round(share * sum(s["qty"] for s in out))
            if fake > 0:
                self.phantom_days.append(d)
                out.append({"ship_no": f"DN-{d:%Y%m%d}-{len(out) + 1}", "date": d,
                            "customer": self.fraud.choice(CUSTOMERS), "product": self.fraud.choice(list(PRODUCTS)),
                            "physical_qty": 0, "qty": fake, "at_h": 0.0})
        return out

    # -- the exports ------------------------------------------------------------------------
    def write_exports(self, out: Path, history: list[Day]) -> None:
        ex = out / EXPORTS
        mes = ex / "mes-production"
        mes.mkdir(parents=True)
        rng = self.rng["mes"]
        products = list(PRODUCTS)
        for rec in history:
            if not rec.working or rec.claimed_good + rec.claimed_scrap == 0:
                continue
            n = rng.randint(2, 3)
            cuts = sorted(rng.uniform(0.15, 0.85) for _ in range(n - 1))
            shares = [b - a for a, b in zip([0.0, *cuts], [*cuts, 1.0], strict=True)]
            rows = []
            run_min = rec.run_min if rec.claimed_run_min is None else rec.claimed_run_min
            good_left, scrap_left, run_left = rec.claimed_good, rec.claimed_scrap, run_min
            for j, share in enumerate(shares):
                last = j == len(shares) - 1
                g = good_left if last else round(rec.claimed_good * share)
                s = scrap_left if last else round(rec.claimed_scrap * share)
                rm = run_left if last else run_min * share
                good_left, scrap_left, run_left = good_left - g, scrap_left - s, run_left - rm
                rows.append([f"WO-{rec.day:%Y%m%d}-{j + 1}", rec.day.isoformat(), products[j], g, s,
                             round(675 * share), round(rm)])
            with open(mes / f"production_{rec.day:%Y%m%d}.csv", "w", encoding="gbk", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["工单号", "日期", "产品", "良品数", "废品数", "计划工时", "实际工时"])
                w.writerows(rows)
        end = self.days[-1]
        ships = [s for rec in history for s in rec.shipments]
        orders = []
        rng = self.rng["erp"]
        for n, s in enumerate(ships, start=1):
            d = s["date"]
            inv = d + timedelta(days=2)
            paid = inv + timedelta(days=rng.randint(30, 60))
            orders.append([f"SO-{n:05d}", s["customer"], s["product"], s["qty"], f"{PRODUCTS[s['product']]:.2f}",
                           (d - timedelta(days=rng.randint(7, 14))).isoformat(), (d - timedelta(days=1)).isoformat(),
                           d.isoformat(), inv.isoformat() if inv <= end else "",
                           paid.isoformat() if paid <= end else ""])
        # Due dates (交货日期), from their own stream so every other value of a seed stays as it was: the
        # plant promises delivery 0-3 days after the day it will ship (an honest plant ships on time).
        dues = random.Random(f"{self.cfg.seed}:due")
        for o in orders:
            o.append((date.fromisoformat(o[7]) + timedelta(days=dues.randint(0, 3))).isoformat())
        # Orders already placed for deliveries after the end: a real order book runs one to two weeks
        # ahead, and without them the last fortnight would look like falling sales.
        book = random.Random(f"{self.cfg.seed}:order-book")
        ahead = [o for o in orders if date.fromisoformat(o[6]) >= end - timedelta(days=14)]
        for n, o in enumerate(ahead, start=1):
            lead = date.fromisoformat(o[10]) - date.fromisoformat(o[5])
            placed = date.fromisoformat(o[5]) + timedelta(days=14 + book.randint(-1, 1))
            if placed <= end:
                orders.append([f"SO-F{n:04d}", o[1], o[2], o[3], o[4], placed.isoformat(), "", "", "", "",
                               (placed + lead).isoformat()])
        if self.cfg.has_finance:
            ships, orders = self.finance_exports(ex, ships, orders)
        _write_csv(ex / "erp-shipments" / "shipments.csv", ["发货单号", "日期", "客户", "产品", "数量"],
                   [[s["ship_no"], s["date"].isoformat(), s["customer"], s["product"], s["qty"]] for s in ships])
        _write_csv(ex / "erp-orders" / "orders.csv", ["订单号", "客户", "产品", "数量", "单价", "日期", "完工日期",
                                                       "发货日期", "开票日期", "回款日期", "交货日期"], orders)
        _write_csv(ex / "wms-stock-moves" / "moves.csv", ["单号", "时间", "方向", "重量", "库位"],
                   [list(m.values()) for m in self.moves])


    def finance_exports(self, ex: Path, ships: list[dict[str, Any]],
                        orders: list[list[Any]]) -> tuple[list[dict[str, Any]], list[list[Any]]]:
        """Receivables and purchases (and the repayment patterns, applied to the ERP's records only).

        Its own random stream, so the other exports of a seed stay the same with or without it.
        Invoices: one per order invoiced by the end (2 days after shipping, due 30 days later, paid
        30-60 days after invoicing), plus ``PREHISTORY_DAYS`` of earlier invoices so the book is in
        steady state when the history starts. Patterns from the onset: ``slow_payers`` leaves that
        share of the payments due unpaid; ``order_stall`` leaves orders produced but never shipped,
        invoiced or paid; ``revenue_drop`` books smaller orders; ``concentrated`` sends most orders to
        one customer; ``late_orders`` promises that share of the orders placed from the onset on 3-10 days
        sooner than the plant ships (over-promising: overdue orders pile up and on-time delivery falls, while
        what was made and shipped stays the same).
        """
        cfg, rng = self.cfg, random.Random(f"{self.cfg.seed}:finance")
        end, onset = self.days[-1], self.days[self.onset]
        size = cfg.size if cfg.size is not None else SIZES.get(cfg.scenario, ("", 0.0))[1]
        col = {"order": 5, "produced": 6, "shipped": 7, "invoiced": 8, "paid": 9, "due": 10}
        if cfg.scenario == "concentrated":
            for o in orders:
                if rng.random() < size:
                    o[1] = CUSTOMERS[0]
        if cfg.scenario == "revenue_drop":
            for o in orders:
                if date.fromisoformat(o[col["order"]]) >= onset and rng.random() < size:
                    o[3] = max(1, round(o[3] * 0.1))
        if cfg.scenario == "late_orders":
            late = random.Random(f"{cfg.seed}:late")  # its own stream: the invoices stay the honest plant's
            for o in orders:
                placed = date.fromisoformat(o[col["order"]])
                if placed >= onset and late.random() < size:
                    lead = (date.fromisoformat(o[col["due"]]) - placed).days - late.randint(3, 10)
                    o[col["due"]] = (placed + timedelta(days=max(1, lead))).isoformat()
        if cfg.scenario == "order_stall":
            stalled: set[str] = set()
            for o, s in zip(orders[:len(ships)], ships, strict=True):  # the order book's tail has no shipment
                if date.fromisoformat(o[col["shipped"]]) >= onset and rng.random() < size:
                    o[col["shipped"]] = o[col["invoiced"]] = o[col["paid"]] = ""
                    stalled.add(s["ship_no"])
            ships = [s for s in ships if s["ship_no"] not in stalled]
        # Invoices: the history's orders, then the prehistory's.
        value = [o[3] * float(o[4]) for o in orders]
        typical = sum(value) / max(1, sum(1 for d in self.days if self.working(d)))
        invoices: list[list[Any]] = []
        for o, amount in zip(orders, value, strict=True):
            if o[col["invoiced"]]:
                inv = date.fromisoformat(o[col["invoiced"]])
                invoices.append([f"INV-{o[0]}", o[1], round(amount, 2), inv, inv + timedelta(days=30),
                                 inv + timedelta(days=rng.randint(30, 60))])
        # The prehistory invoices as much per working day as the history does, so the open book
        # neither grows nor shrinks when the history starts.
        first = self.days[0]
        per_day = sum(i[2] for i in invoices) / max(1, len({i[3] for i in invoices}))
        for k in range(PREHISTORY_DAYS, 0, -1):
            d = first - timedelta(days=k)
            if d.weekday() >= 5:
                continue
            n = rng.randint(1, 2)
            for j in range(n):
                cust = CUSTOMERS[0] if cfg.scenario == "concentrated" and rng.random() < size else rng.choice(CUSTOMERS)
                invoices.append([f"INV-P{d:%Y%m%d}-{j + 1}", cust, round(per_day / n * rng.uniform(0.8, 1.2), 2), d,
                                 d + timedelta(days=30), d + timedelta(days=rng.randint(30, 60))])
        rows = []
        for no, cust, amount, inv, due, paid in invoices:
            if cfg.scenario == "slow_payers" and paid >= onset and rng.random() < size:
                paid = None
            rows.append([no, cust, amount, inv.isoformat(), due.isoformat(),
                         paid.isoformat() if paid is not None and paid <= end else ""])
        _write_csv(ex / "erp-receivables" / "receivables.csv",
                   ["发票号", "客户", "金额", "开票日期", "到期日", "回款日期"], rows)
        purchases = []
        for d in self.days:
            if not self.working(d):
                continue
            for j in range(rng.randint(1, 2)):
                purchases.append([f"PO-{d:%Y%m%d}-{j + 1}", d.isoformat(), rng.choice(SUPPLIERS),
                                  round(typical * rng.uniform(0.2, 0.4), 2)])
        _write_csv(ex / "erp-purchases" / "purchases.csv", ["采购单号", "日期", "供应商", "金额"], purchases)
        return ships, orders


class _Writers:
    """One CSV per device, header from the first row's columns."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, Any] = {}
        self.writers: dict[str, Any] = {}

    def row(self, device: str, stamp: str, **values: Any) -> None:
        w = self.writers.get(device)
        if w is None:
            fh = open(self.out / f"{device}.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
            self.files[device] = fh
            w = self.writers[device] = csv.writer(fh)
            w.writerow(["timestamp", *values])
        w.writerow([stamp, *values.values()])

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _hm(text: str) -> float:
    h, m = text.split(":")
    return int(h) + int(m) / 60


def _poisson(rng: random.Random, lam: float) -> int:
    """Poisson by normal approximation (lam is ~10 per slot or more; exactness is not the point)."""
    if lam <= 0:
        return 0
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return min(n, max(0, round(rng.gauss(mean, sd))))


def ground_truth(cfg: ScenarioConfig, fac: Factory) -> dict[str, Any]:
    """What was injected, when and how big: what the detection bench scores the findings against."""
    if cfg.scenario == "honest":
        return {"pattern": "honest", "onset_date": None, "onset_ts": None, "size": None, "size_unit": None}
    onset = fac.days[fac.onset]
    out: dict[str, Any] = {"pattern": cfg.scenario, "onset_date": onset.isoformat(),
                           "onset_ts": int(fac.midnight(onset)), "size": cfg.pattern_size(),
                           "size_unit": SIZES[cfg.scenario][0]}
    if fac.phantom_days:
        out["phantom_days"] = [d.isoformat() for d in fac.phantom_days]
    if fac.removals:
        out["removals"] = fac.removals
    return out


def write_scenario(cfg: ScenarioConfig, out: Path) -> dict[str, Any]:
    """Write the scenario's folder; returns (and writes as scenario.json) what was injected and the truth."""
    out.mkdir(parents=True, exist_ok=True)
    fac = Factory(cfg)
    history = fac.simulate(out)
    fac.write_exports(out, history)
    onset = fac.days[fac.onset] if cfg.scenario != "honest" else None
    meta = {
        "scenario": cfg.scenario, "profile": FINANCE_PROFILE if cfg.has_finance else PROFILE, "seed": cfg.seed,
        "days": cfg.days,
        "start": cfg.start.isoformat(), "end": fac.days[-1].isoformat(), "interval_s": cfg.interval_s,
        "timezone": str(fac.tz), "onset_day": fac.onset if onset else None,
        "onset_date": onset.isoformat() if onset else None,
        "offline": None if fac.offline is None else {"from": fac.offline[0], "to": fac.offline[1]},
        "config": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(cfg).items()},
        "ground_truth": ground_truth(cfg, fac),
        "plant": {"kind": cfg.plant, "packs": cfg.packs,
                  **({"realism": fac.real.as_json()} if fac.real is not None else {})},
        "truth": {"parts": sum(h.parts for h in history), "scrap": sum(h.scrap for h in history),
                  "claimed_good": sum(h.claimed_good for h in history),
                  "working_days": sum(1 for h in history if h.working),
                  "shipped_physical": sum(s["physical_qty"] for h in history for s in h.shipments),
                  "shipped_claimed": sum(s["qty"] for h in history for s in h.shipments)},
    }
    (out / "scenario.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return meta
