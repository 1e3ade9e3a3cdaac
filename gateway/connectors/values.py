"""Parsing the values found in real exports: dates written five ways, amounts with ¥ and
thousands separators (or 万), 入库/出库 for in/out. A value that does not parse raises
ValueError (reasons.RowError: a template, shown in the reader's language) with a reason the enterprise can act
on; the importer quarantines the row."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from gateway.connectors.reasons import RowError
from gateway.i18n import N_

_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NUM_JUNK = str.maketrans("", "", ",，¥￥$€ \u00a0\u3000元")
_IN = {"in", "i", "入", "入库", "收货", "receipt", "+"}
_OUT = {"out", "o", "出", "出库", "发货", "issue", "-"}


def parse_number(raw: object) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise RowError(N_("not a number: {raw}"), raw=repr(raw))
    if isinstance(raw, int | float):
        if raw != raw:  # an empty spreadsheet cell read as NaN: not observed
            return None
        if raw in (float("inf"), float("-inf")):
            raise RowError(N_("not a finite number: {raw}"), raw=repr(raw))
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
        raise RowError(N_("not a number: {raw}"), raw=repr(raw)) from None
    if v != v or v in (float("inf"), float("-inf")):
        raise RowError(N_("not a finite number: {raw}"), raw=repr(raw))
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
            raise RowError(N_("not a date: {raw}"), raw=repr(raw))
        parts = [int(g) if g else 0 for g in m.groups()]
        parts += [0] * (6 - len(parts))
        try:
            dt = datetime(*parts[:6])  # type: ignore[arg-type]
        except ValueError as exc:
            raise RowError(N_("not a valid date: {raw} ({error})"), raw=repr(raw), error=str(exc)) from None
    if not 2000 <= dt.year <= 2100:
        raise RowError(N_("implausible date: {raw}"), raw=repr(raw))
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt.astimezone(tz)


def parse_direction(raw: object) -> str | None:
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip().casefold()
    if text in _IN:
        return "in"
    if text in _OUT:
        return "out"
    raise RowError(N_("not an in/out direction: {raw} (expected in/out, 入库/出库)"), raw=repr(raw))
