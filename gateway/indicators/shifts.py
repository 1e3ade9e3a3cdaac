"""The shift calendar declared in the profile's ``[shifts]``: when the plant plans to run.

Availability needs a denominator the enterprise declared before the fact (planned time),
not one inferred from the machine itself, or an idle week would look 100 % available.

    [shifts]
    timezone = "Asia/Shanghai"          # default: the site's
    holidays = ["2026-10-01"]
    [[shifts.shift]]
    name = "day"
    days = ["mon", "tue", "wed", "thu", "fri"]
    start = "08:00"
    end = "20:00"                        # an end before the start runs past midnight
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec

from gateway.i18n import N_
from gateway.profile.load import ProfileError, _split_msgspec_error, msgspec_words

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Shift(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    start: HHMM
    end: HHMM
    days: list[str] = msgspec.field(default_factory=lambda: list(DAYS[:5]))


class ShiftsCfg(msgspec.Struct, forbid_unknown_fields=True):
    shift: list[Shift] = []
    timezone: str | None = None
    holidays: list[str] = []


_CACHE: dict[int, tuple[Any, ShiftsCfg, ZoneInfo, set[date]]] = {}


def load_shifts(section: dict[str, Any], site_tz: str = "UTC", file: str = "(profile)"
                ) -> tuple[ShiftsCfg, ZoneInfo, set[date]]:
    try:
        cfg = msgspec.convert(section, ShiftsCfg, strict=False)
    except msgspec.ValidationError as exc:
        k, msg = _split_msgspec_error(exc)
        raise ProfileError(file, f"shifts.{k}", msgspec_words(msg)) from exc
    for i, s in enumerate(cfg.shift):
        bad = [d for d in s.days if d not in DAYS]
        if bad:
            raise ProfileError(file, f"shifts.shift[{i}].days", N_("days among {DAYS} (found {bad})"),
                                                                DAYS=list(DAYS), bad=bad)
        if s.start == s.end:
            raise ProfileError(file, f"shifts.shift[{i}].end", N_("an end different from the start"))
    try:
        tz = ZoneInfo(cfg.timezone or site_tz)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError
        raise ProfileError(file, "shifts.timezone", N_("an IANA time zone such as Asia/Shanghai ({error})"),
                                                    error=exc) from exc
    try:
        hol = {date.fromisoformat(h) for h in cfg.holidays}
    except ValueError as exc:
        raise ProfileError(file, "shifts.holidays", N_("dates as YYYY-MM-DD ({error})"), error=exc) from exc
    return cfg, tz, hol


def shifts_of(profile: Any) -> tuple[ShiftsCfg, ZoneInfo, set[date]] | None:
    """The profile's calendar (parsed once per profile object), or None when none is declared."""
    if profile is None or not getattr(profile, "shifts", None):
        return None
    hit = _CACHE.get(id(profile))
    if hit is None or hit[0] is not profile:
        cfg, tz, hol = load_shifts(profile.shifts, profile.site.timezone)
        hit = (profile, cfg, tz, hol)
        _CACHE[id(profile)] = hit
    return hit[1], hit[2], hit[3]


def planned_intervals(cfg: ShiftsCfg, tz: ZoneInfo, holidays: set[date], start: float, end: float
                      ) -> list[tuple[float, float]]:
    """Planned (start, end) epoch intervals clipped to [start, end), merged, in order.
    A shift belongs to the day it starts on (a night shift Friday 22:00-06:00 is Friday's)."""
    first = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, tz).date()
    out: list[tuple[float, float]] = []
    d = first
    while d <= last:
        if d not in holidays:
            for s in cfg.shift:
                if DAYS[d.weekday()] not in s.days:
                    continue
                h1, m1 = map(int, s.start.split(":"))
                h2, m2 = map(int, s.end.split(":"))
                a = datetime(d.year, d.month, d.day, h1, m1, tzinfo=tz)
                end_day = d + timedelta(days=1) if (h2, m2) <= (h1, m1) else d
                b = datetime(end_day.year, end_day.month, end_day.day, h2, m2, tzinfo=tz)
                lo, hi = max(a.timestamp(), start), min(b.timestamp(), end)
                if hi > lo:
                    out.append((lo, hi))
        d += timedelta(days=1)
    out.sort()
    merged: list[tuple[float, float]] = []
    for a, b in out:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def overlap(xs: list[tuple[float, float]], ys: list[tuple[float, float]]) -> float:
    """Total seconds two sorted, non-overlapping interval lists share."""
    i = j = 0
    total = 0.0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if b > a:
            total += b - a
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return total
