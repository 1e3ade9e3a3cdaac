"""Parsing the values found in real exports: dates written five ways, amounts with ¥ and
thousands separators (or 万), 入库/出库 for in/out. A value that does not parse raises
ValueError with a reason the enterprise can act on; the importer quarantines the row."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NUM_JUNK = str.maketrans("", "", ",，¥￥$€ \u00a0\u3000元")
_IN = {"in", "i", "入", "入库", "收货", "receipt", "+"}
_OUT = {"out", "o", "出", "出库", "发货", "issue", "-"}


def parse_number(raw: object) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError(f"not a number: {raw!r}")
    if isinstance(raw, int | float):
        if raw != raw:  # an empty spreadsheet cell read as NaN: not observed
            return None
        if raw in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {raw!r}")
        return float(raw)
    text = str(raw).strip().translate(_NUM_JUNK)
    if text in ("", "-", "—"):
        return None
    mult = 1.0
    if text.endswith("万"):
        text, mult = text[:-1], 10_000.0
    neg = text.startswith("(") and text.endswith(")")
    if neg:
        text = text[1:-1]
    try:
        v = float(text) * mult
    except ValueError:
        raise ValueError(f"not a number: {raw!r}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {raw!r}")
    return -v if neg else v


def parse_datetime(raw: object, tz: ZoneInfo) -> datetime | None:
    """A local date or date-time of the site (exports carry local times, without a zone)."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        dt = raw
    elif isinstance(raw, date):
        dt = datetime.combine(raw, time())
    else:
        text = str(raw).strip()
        if not text:
            return None
        norm = text.replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-").replace(".", "-")
        norm = norm.replace("时", ":").replace("分", "").strip()
        m = _DATE.match(norm) or _COMPACT.match(norm)
        if not m:
            raise ValueError(f"not a date: {raw!r}")
        parts = [int(g) if g else 0 for g in m.groups()]
        parts += [0] * (6 - len(parts))
        try:
            dt = datetime(*parts[:6])  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"not a valid date: {raw!r} ({exc})") from None
    if not 2000 <= dt.year <= 2100:
        raise ValueError(f"implausible date: {raw!r}")
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt.astimezone(tz)


def parse_direction(raw: object) -> str | None:
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip().casefold()
    if text in _IN:
        return "in"
    if text in _OUT:
        return "out"
    raise ValueError(f"not an in/out direction: {raw!r} (expected in/out, 入库/出库)")
