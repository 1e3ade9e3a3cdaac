"""Pledged goods: weight and drift against the pledged baseline, unexplained weight changes,
geofence state and exits, sensor tamper (offline, implausible readings).

Declared in the profile:

    [[collateral.pledges]]
    asset = "coil-store"          # the asset whose load cells / tracker watch the goods
    baseline_kg = 12000           # what was pledged
    tolerance_pct = 2             # drift beyond this is flagged
    match_window_s = 3600         # how far apart the ERP record and the step may be
    # What counts as a step (gateway/indicators/load_steps.py; defaults shown):
    hold_s = 3600                 # the new level must hold this long; shorter visits are transients
    step_sigma = 8                # threshold >= this many times the scale's own noise (learned)
    step_pct = 1.0                # threshold >= this share of baseline_kg
    # change_threshold_kg = 50    # optional floor in kg (no default: the threshold scales with the stack)
    block_s = 60                  # readings are reduced to one median per block

A step is "explained" when the ERP's ``stock_moves`` dataset has a movement in the same
direction within ``match_window_s`` whose quantity matches the step within the threshold
(or 5 %); each movement explains one step. Loads that come and go (a forklift resting on
the stack, a person) are transients, counted in ``collateral.transient_loads``; slow drift
(temperature, creep) is followed by the settled level and left to ``collateral.drift_pct``,
which compares the weight with the pledge itself, so a removal in lots too small to be
steps still adds up there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from gateway.i18n import N_
from gateway.indicators.base import Indicator, IndicatorValue, WindowContext
from gateway.indicators.counters import time_weighted, window_counter
from gateway.indicators.intervals import max_gap, observed, state_intervals, total
from gateway.indicators.load_steps import Step, StepParams, Transient, detect, lookback_s, noise_sd, threshold_kg
from gateway.indicators.registry import register
from gateway.profile.load import ProfileError, _split_msgspec_error, msgspec_words
from gateway.store import erp as erp_store


class Pledge(msgspec.Struct, forbid_unknown_fields=True):
    asset: str
    baseline_kg: Annotated[float, msgspec.Meta(gt=0)]
    tolerance_pct: Annotated[float, msgspec.Meta(ge=0)] = 2.0
    change_threshold_kg: Annotated[float, msgspec.Meta(gt=0)] | None = None
    match_window_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    hold_s: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    step_sigma: Annotated[float, msgspec.Meta(gt=0)] = 8.0
    step_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = 1.0
    block_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0

    def step_params(self) -> StepParams:
        return StepParams(hold_s=self.hold_s, step_sigma=self.step_sigma, step_pct=self.step_pct,
                          min_step_kg=self.change_threshold_kg, block_s=self.block_s)


Range = Annotated[list[float], msgspec.Meta(min_length=2, max_length=2)]


class CollateralCfg(msgspec.Struct, forbid_unknown_fields=True):
    pledges: list[Pledge] = []
    # Storage conditions per room (asset): {temp_c = [lo, hi], rh_pct = [lo, hi], pressure_hpa = [lo, hi]}.
    storage: dict[str, dict[str, Range]] = {}


_CACHE: dict[int, tuple[Any, dict[str, Pledge]]] = {}
_ROOMS: dict[int, tuple[Any, dict[str, dict[str, list[float]]]]] = {}


def storage_range(profile: Any, asset: str, quantity: str) -> tuple[float, float] | None:
    """The declared storage range of a room, from ``[collateral] storage``."""
    if profile is None or not getattr(profile, "collateral", None):
        return None
    hit = _ROOMS.get(id(profile))
    if hit is None or hit[0] is not profile:
        hit = (profile, load_collateral_cfg(profile.collateral).storage)
        _ROOMS[id(profile)] = hit
    r = hit[1].get(asset, {}).get(quantity)
    return (float(r[0]), float(r[1])) if r else None


def load_collateral_cfg(section: dict[str, Any], file: str = "(profile)") -> CollateralCfg:
    try:
        cfg = msgspec.convert(section, CollateralCfg, strict=False)
    except msgspec.ValidationError as exc:
        k, msg = _split_msgspec_error(exc)
        raise ProfileError(file, f"collateral.{k}", msgspec_words(msg)) from exc
    for room, ranges in cfg.storage.items():
        for q, (lo, hi) in ranges.items():
            if q not in ("temp_c", "rh_pct", "pressure_hpa"):
                raise ProfileError(file, f"collateral.storage.{room}.{q}", N_("one of temp_c, rh_pct, pressure_hpa"))
            if lo >= hi:
                raise ProfileError(file, f"collateral.storage.{room}.{q}", N_("[low, high] with low < high (found "
                                                                              "[{lo}, {hi}])"), lo=lo, hi=hi)
    return cfg


def load_collateral(section: dict[str, Any], file: str = "(profile)") -> dict[str, Pledge]:
    cfg = load_collateral_cfg(section, file)
    out: dict[str, Pledge] = {}
    for i, p in enumerate(cfg.pledges):
        if p.asset in out:
            raise ProfileError(file, f"collateral.pledges[{i}].asset", N_("one pledge per asset ({asset} twice)"),
                                                                       asset=f'{p.asset!r}')
        out[p.asset] = p
    return out


def pledge_of(ctx: WindowContext) -> Pledge | None:
    prof = ctx.profile
    if prof is None or not getattr(prof, "collateral", None):
        return None
    hit = _CACHE.get(id(prof))
    if hit is None or hit[0] is not prof:
        hit = (prof, load_collateral(prof.collateral))
        _CACHE[id(prof)] = hit
    return hit[1].get(ctx.asset)


@dataclass(frozen=True)
class WeightEvents:
    """What the detector found for one window: steps confirmed and transients ended in it."""

    steps: list[Step]
    transients: list[Transient]
    threshold_kg: float
    noise_kg: float
    readings: int


def weight_history(ctx: WindowContext, since: float) -> list[tuple[float, float]]:
    """Good weight readings from ``since`` to the window's end: the store's look-back before the
    window (when the gateway's store holds the point) and the window's own series."""
    pts: list[tuple[float, float]] = []
    if ctx.store is not None and since < ctx.start:
        names = {d.name for d in ctx.devices}
        ids = [p.id for p in ctx.store.points() if p.meaning == "collateral.weight_kg" and p.device in names][:1]
        if ids:
            ts, vals, qual = ctx.store.readings_window(ids, since, ctx.start)[ids[0]]
            pts = [(t, v) for t, v, q in zip(ts, vals, qual, strict=True) if v is not None and q == "good"]
    s = ctx.series["collateral.weight_kg"]
    if not pts and s.before is not None:
        pts = [s.before]
    return pts + s.good()


_LAST: list[tuple[WindowContext, WeightEvents]] = []


def weight_events(ctx: WindowContext, pledge: Pledge) -> WeightEvents:
    """Held steps confirmed in this window and transients that ended in it (computed once per
    window context: two indicators read it)."""
    if _LAST and _LAST[0][0] is ctx:
        return _LAST[0][1]
    p = pledge.step_params()
    pts = weight_history(ctx, ctx.start - lookback_s(p))
    sd = noise_sd(pts)
    thr = threshold_kg(sd, pledge.baseline_kg, p)
    steps, trans, _ = detect(pts, thr, p)
    ev = WeightEvents([s for s in steps if ctx.start <= s.confirmed < ctx.end],
                      [t for t in trans if ctx.start <= t.back < ctx.end], thr, sd, len(pts))
    _LAST[:] = [(ctx, ev)]
    return ev


def stock_moves(ctx: WindowContext, start: float, end: float) -> list[dict[str, Any]]:
    import json

    if ctx.store is None:
        return []
    got = erp_store.stock_moves_between(ctx.store, start, end)
    out = []
    for ts, f in got:
        row = json.loads(f)
        if row.get("asset") in (None, "", ctx.asset):
            out.append({**row, "_ts": ts})
    return out


def unexplained(steps: list[tuple[float, float]], moves: list[dict[str, Any]], pledge: Pledge,
                threshold: float | None = None) -> list[tuple[float, float]]:
    """Steps (time, kg) that no ERP movement explains: same direction, within ``match_window_s``,
    quantity within the step threshold (or 5 %)."""
    used: set[int] = set()
    out = []
    thr = threshold if threshold is not None else (pledge.change_threshold_kg or 0.0)
    for t, kg in steps:
        want = "out" if kg < 0 else "in"
        tol = max(thr, 0.05 * abs(kg))
        match = None
        for i, m in enumerate(moves):
            if i in used or m.get("direction") != want or abs(m["_ts"] - t) > pledge.match_window_s:
                continue
            if abs(float(m["qty_kg"]) - abs(kg)) <= tol:
                match = i
                break
        if match is None:
            out.append((t, kg))
        else:
            used.add(match)
    return out


class _Collateral(Indicator):
    category = "collateral"


class _Pledged(_Collateral):
    """An indicator about a pledge: it applies only to assets the profile pledges."""

    requires = ("collateral.weight_kg",)

    def applies(self, ctx: WindowContext) -> bool:
        return super().applies(ctx) and pledge_of(ctx) is not None


def weight_seen(ctx: WindowContext) -> tuple[list[str], dict[str, float]]:
    """Flags and detail for the share of the window the scale was read (``coverage``): every
    collateral figure is over observed time only, and a window with no reading is null."""
    secs = sum(sec for _, sec in time_weighted(ctx.series["collateral.weight_kg"], ctx.start, ctx.end, max_gap(ctx)))
    return observed(secs, ctx.length)


@register
class Weight(_Collateral):
    """The last good weight in the window: what is on the load cells now."""

    name = "collateral.weight_kg"
    unit = "kg"
    version = 2  # v2: coverage in detail
    requires = ("collateral.weight_kg",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        vals = ctx.series["collateral.weight_kg"].good()
        if not vals:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        flags, detail = weight_seen(ctx)
        return [self.value(ctx, round(vals[-1][1], 3), flags, **detail)]


@register
class Drift(_Pledged):
    """(weight - pledged baseline) / baseline, in percent; flagged beyond the pledge's tolerance."""

    name = "collateral.drift_pct"
    unit = "%"
    version = 2  # v2: coverage in detail
    requires = ("collateral.weight_kg",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        p = pledge_of(ctx)
        assert p is not None
        vals = ctx.series["collateral.weight_kg"].good()
        if not vals:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        drift = 100.0 * (vals[-1][1] - p.baseline_kg) / p.baseline_kg
        flags, detail = weight_seen(ctx)
        return [self.value(ctx, round(drift, 4), [*flags, *(["beyond_tolerance"] if abs(drift) > p.tolerance_pct
                                                            else [])], tolerance_pct=p.tolerance_pct, **detail)]


@register
class UnexplainedChange(_Pledged):
    """Held weight steps (see load_steps.py) with no matching ERP in/out record.

    v2: a step must hold ``hold_s``; the threshold comes from the scale's noise and the
    pledge's size; transients and drift are not steps. Detail: steps, unexplained_kg (signed
    sum), unexplained_out / unexplained_in (counts), threshold_kg, noise_kg."""

    name = "collateral.unexplained_changes"
    unit = "count"
    version = 2
    requires = ("collateral.weight_kg",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        p = pledge_of(ctx)
        assert p is not None
        if not ctx.series["collateral.weight_kg"].good():  # not observed: no step can be told from none
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        ev = weight_events(ctx, p)
        # A step confirmed in this window may have left its old level up to a look-back before it
        # (the hold): the moves that can explain it start that much earlier.
        moves = stock_moves(ctx, ctx.start - lookback_s(p.step_params()) - p.match_window_s,
                            ctx.end + p.match_window_s)
        bad = unexplained([(s.t, s.kg) for s in ev.steps], moves, p, ev.threshold_kg)
        flags, detail = weight_seen(ctx)
        return [self.value(ctx, float(len(bad)), [*flags, *(["unexplained_change"] if bad else [])], **detail,
                           steps=len(ev.steps),
                           unexplained_kg=round(sum(kg for _, kg in bad), 3),
                           unexplained_out=sum(1 for _, kg in bad if kg < 0),
                           unexplained_in=sum(1 for _, kg in bad if kg > 0),
                           threshold_kg=round(ev.threshold_kg, 3), noise_kg=round(ev.noise_kg, 3))]


@register
class TransientLoads(_Pledged):
    """Loads that came and went within ``hold_s`` (a forklift resting on the stack, a person, a
    pallet set down and lifted): not changes of the goods, reported so a bank can see them.
    Detail: max_kg (largest excursion, signed), minutes (their total duration)."""

    name = "collateral.transient_loads"
    unit = "count"
    requires = ("collateral.weight_kg",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        p = pledge_of(ctx)
        assert p is not None
        if not ctx.series["collateral.weight_kg"].good():
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        ev = weight_events(ctx, p)
        top = max((t.max_kg for t in ev.transients), key=abs, default=0.0)
        flags, detail = weight_seen(ctx)
        flags += ["transient_load"] if ev.transients else []
        return [self.value(ctx, float(len(ev.transients)), flags, **detail, max_kg=round(top, 3),
                           minutes=round(sum(t.back - t.t for t in ev.transients) / 60, 2))]


@register
class InsideGeofence(_Collateral):
    """Last geofence state (1 inside, 0 outside) and the share of observed time inside."""

    name = "collateral.inside_geofence"
    unit = "bool"
    version = 2  # v2: coverage in detail
    requires = ("collateral.inside_geofence",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        s = ctx.series["collateral.inside_geofence"]
        vals = s.good()
        inside, seen = state_intervals(s, ctx.start, ctx.end, max_gap(ctx), lambda v: v >= 0.5)
        if not vals:
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        pct = 100.0 * total(inside) / total(seen) if total(seen) > 0 else None
        flags, detail = observed(total(seen), ctx.length)
        return [self.value(ctx, 1.0 if vals[-1][1] >= 0.5 else 0.0, [*flags, *([] if vals[-1][1] >= 0.5
                                                                                else ["outside"])],
                           inside_pct=None if pct is None else round(pct, 3), **detail)]


@register
class GeofenceExits(_Collateral):
    """Exits counted by the tracker's exit counter, apportioned by time like every counter
    (counters.counter_window): null when the counter was not read across the window."""

    name = "collateral.geofence_exits"
    unit = "count"
    version = 2  # v2: apportioned by time, null when unobserved, coverage in detail
    requires = ("collateral.geofence_exits",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        c = window_counter(ctx, ctx.series["collateral.geofence_exits"], max_rate_per_s=1.0)
        return [self.value(ctx, c.value, c.flags, **c.detail())]


@register
class SensorOffline(_Collateral):
    """Minutes in the window with no usable weight reading: a load cell unplugged or covered
    is the first thing a removal would try."""

    name = "collateral.offline_min"
    unit = "min"
    requires = ("collateral.weight_kg",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        _, seen = state_intervals(ctx.series["collateral.weight_kg"], ctx.start, ctx.end, max_gap(ctx),
                                  lambda v: True)
        off = max(0.0, ctx.length - total(seen))
        return [self.value(ctx, round(off / 60, 4), ["tamper_suspect"] if off >= 0.5 * ctx.length else [])]


@register
class Implausible(_Collateral):
    """Readings outside the point's plausible range or frozen (stale), and negative weights."""

    name = "collateral.implausible_readings"
    unit = "count"
    version = 2  # v2: null when nothing was read, coverage in detail
    requires = ("collateral.weight_kg",)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        s = ctx.series["collateral.weight_kg"]
        if not s.values:  # nothing read: not "0 implausible readings"
            return [self.value(ctx, None, ["no_data"], coverage=0.0)]
        n = sum(1 for v, q in zip(s.values, s.quality, strict=True)
                if q in ("out_of_range", "stale") or (v is not None and q == "good" and v < 0))
        flags, detail = weight_seen(ctx)
        return [self.value(ctx, float(n), [*flags, *(["tamper_suspect"] if n else [])], **detail)]
