"""Behaviour of emulated devices over time: what a small workshop's machines really do.

A scenario maps wall-clock time to engineering values by *meaning*; emulators encode
them into their protocol. Cumulative counters are integrated from the instantaneous
values, so energy used really equals the area under the power curve.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Scenario:
    """Stateful source of values. ``overrides`` lets tests pin a meaning to a value."""

    kind: str = "press"
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 1
    overrides: dict[str, float] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    _last: float | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.fn: Callable[[float, dict[str, Any], random.Random], dict[str, float]] = SCENARIOS[self.kind]
        self.counters.setdefault("energy.total_kwh", float(self.params.get("start_kwh", 12000.0)))
        self.counters.setdefault("machine.cycles", float(self.params.get("start_cycles", 0.0)))
        self.counters.setdefault("water.total_m3", float(self.params.get("start_m3", 530.0)))

    def values(self, now: float | None = None) -> dict[str, float]:
        now = time.time() if now is None else now
        v = self.fn(now, self.params, self.rng)
        dt = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        if "energy.power_kw" in v:
            self.counters["energy.total_kwh"] += v["energy.power_kw"] * dt / 3600.0
        if "machine.cycles_per_min" in v:
            self.counters["machine.cycles"] += v["machine.cycles_per_min"] * dt / 60.0
        if "water.flow_m3h" in v:
            self.counters["water.total_m3"] += v["water.flow_m3h"] * dt / 3600.0
        v.update({k: (math.floor(c) if k == "machine.cycles" else c) for k, c in self.counters.items()})
        v.update(self.overrides)
        return v


def _press(now: float, p: dict[str, Any], rng: random.Random) -> dict[str, float]:
    """A hydraulic press: runs ~70 % of a cycle period at full load, idles the rest."""
    period = float(p.get("period_s", 60.0))
    running = (now % period) < period * float(p.get("duty", 0.7))
    load = float(p.get("load_kw", 22.0)) if running else float(p.get("idle_kw", 1.5))
    load *= 1.0 + rng.uniform(-0.03, 0.03)
    volts = 230.0 + rng.uniform(-2, 2)
    amps = load * 1000.0 / (3 * volts * 0.9)
    return {
        "energy.voltage_l1_v": volts, "energy.voltage_l2_v": volts + 0.7, "energy.voltage_l3_v": volts - 0.5,
        "energy.current_l1_a": amps, "energy.current_l2_a": amps * 1.01, "energy.current_l3_a": amps * 0.99,
        "energy.power_kw": load, "energy.frequency_hz": 50.0 + rng.uniform(-0.02, 0.02),
        "machine.cycles_per_min": float(p.get("cycles_per_min", 6.0)) if running else 0.0,
        "machine.running": 1.0 if running else 0.0,
    }


def _compressor(now: float, p: dict[str, Any], rng: random.Random) -> dict[str, float]:
    """Loads and unloads on a pressure band: a slower, steadier duty cycle than a press."""
    p = {"period_s": 240.0, "duty": 0.55, "load_kw": 15.0, "idle_kw": 4.0, "cycles_per_min": 0.0, **p}
    return _press(now, p, rng)


def _water(now: float, p: dict[str, Any], rng: random.Random) -> dict[str, float]:
    day = (now % 86400) / 86400
    flow = float(p.get("flow_m3h", 1.2)) * (0.6 + 0.4 * math.sin(2 * math.pi * day)) + rng.uniform(0, 0.05)
    return {"water.flow_m3h": flow}


def _climate(now: float, p: dict[str, Any], rng: random.Random) -> dict[str, float]:
    day = (now % 86400) / 86400
    t = float(p.get("temp_c", 24.0)) + 3.0 * math.sin(2 * math.pi * day) + rng.uniform(-0.2, 0.2)
    rh = float(p.get("rh_pct", 55.0)) + 8.0 * math.cos(2 * math.pi * day) + rng.uniform(-1, 1)
    return {"env.temp_c": t, "env.rh_pct": max(0.0, min(100.0, rh)),
            "env.pressure_hpa": 1012.0 + rng.uniform(-0.5, 0.5)}


_SIGNALS: dict[str, Any] = {}


def _pallet(now: float, p: dict[str, Any], rng: random.Random) -> dict[str, float]:
    """A pledged pallet stack: constant weight with load-cell noise; ``removed_after_s``
    (seconds into each ``period_s``) drops it to the empty platform, as a diversion would.

    With any of ``drift_pct_day``, ``diurnal_pct``, ``forklifts_per_day`` the scale reads as a
    real one does (drivers/sim/load_cell.py): slow drift, the daily temperature swing and
    forklifts resting on the stack for minutes (``noise_kg`` sets the reading noise)."""
    kg = float(p.get("weight_kg", 1850.0))
    removed_after = p.get("removed_after_s")
    if removed_after is not None and (now % float(p.get("period_s", 3600.0))) >= float(removed_after):
        kg = 0.0
    if not any(k in p for k in ("drift_pct_day", "diurnal_pct", "forklifts_per_day")):
        return {"collateral.weight_kg": kg + rng.gauss(0, 0.2)}
    from drivers.sim.load_cell import LoadCellSignal, honest_transients

    key = repr(sorted(p.items()))
    sig = _SIGNALS.get(key)
    if sig is None:
        day0 = math.floor(now / 86400) * 86400
        days = int(p.get("days", 400))
        sig = LoadCellSignal(pledged_kg=float(p.get("weight_kg", 1850.0)), noise_kg=float(p.get("noise_kg", 0.2)),
                             drift_pct_day=float(p.get("drift_pct_day", 0.0)),
                             diurnal_pct=float(p.get("diurnal_pct", 0.0)), start=day0, days=days,
                             transients=honest_transients(day0, days, per_day=float(p.get("forklifts_per_day", 0.0)),
                                                          forklift_kg=float(p.get("forklift_kg", 3000.0))))
        _SIGNALS[key] = sig
    extra = sig.load_kg(now) + sig.drift_kg(now)
    return {"collateral.weight_kg": kg + extra + rng.gauss(0, sig.noise_kg)}


def _air(now: float, p: dict[str, Any], rng: random.Random) -> dict[str, float]:
    """Compressed-air header pressure: saw-tooth between the compressor's cut-in and cut-out."""
    lo, hi = float(p.get("cut_in_bar", 6.5)), float(p.get("cut_out_bar", 7.5))
    period = float(p.get("period_s", 240.0))
    frac = (now % period) / period
    bar = lo + (hi - lo) * (frac / 0.55 if frac < 0.55 else (1 - frac) / 0.45)
    return {"process.pressure_bar": bar + rng.uniform(-0.02, 0.02)}


SCENARIOS: dict[str, Callable[[float, dict[str, Any], random.Random], dict[str, float]]] = {
    "press": _press,
    "compressor": _compressor,
    "water": _water,
    "climate": _climate,
    "pallet": _pallet,
    "air": _air,
}
