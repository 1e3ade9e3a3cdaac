"""A bank's price series per product class: daily CSV import and a small adapter interface for an API.

Prices are the bank's data (like facilities): stored per bank, used only for that bank's coverage.
One price per (bank, product class, day); importing a day again replaces it. A price is *stale*
when its day is older than the facility's ``max_price_age_days`` at the time coverage is assessed:
the coverage is still computed, flagged ``stale_price`` with the age (cloud_stub/collateral_value.py).

CSV (UTF-8, header row): ``day,product_class,price,currency,unit`` (``day`` ISO ``YYYY-MM-DD``,
``price`` > 0 per ``unit`` (``kg`` or ``unit``), ``currency`` ISO 4217). A bad line stops the
import with the file, line and column; nothing of that file is stored.

An API source is a :class:`PriceAdapter` registered with :func:`register_adapter`: one module per
source, returning :class:`PricePoint` rows that are stored exactly like an imported file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

from cloud_stub.db import iso, utc_now
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg

COLUMNS = ("day", "product_class", "price", "currency", "unit")
MAX_ROWS = 200_000


@dataclass(frozen=True)
class PricePoint:
    """One day's price of one product class, in ``currency`` per ``unit``."""

    day: str
    product_class: str
    price: float
    currency: str
    unit: str


def _bad(where: str, problem: str) -> ReceiverError:
    return ReceiverError("bad_prices", msg("{where}: {problem}", where=where, problem=problem), 400, status="error")


def parse_row(row: dict[str, str | None], where: str) -> PricePoint:
    """One CSV row as a price point; the error names the column and what was expected."""
    day = (row.get("day") or "").strip()
    try:
        date.fromisoformat(day)
    except ValueError:
        raise _bad(where, msg("column day: expected YYYY-MM-DD, got {day}", day=repr(day))) from None
    pc = (row.get("product_class") or "").strip()
    if not pc or len(pc) > 64:
        raise _bad(where, msg("column product_class: expected 1..64 characters, got {pc}", pc=repr(pc)))
    text = (row.get("price") or "").strip()
    try:
        price = float(text)
    except ValueError:
        raise _bad(where, msg("column price: expected a number > 0, got {text}", text=repr(text))) from None
    if not math.isfinite(price) or price <= 0:
        raise _bad(where, msg("column price: expected a number > 0, got {text}", text=repr(text)))
    cur = (row.get("currency") or "").strip()
    if not re.fullmatch(r"[A-Z]{3}", cur):
        raise _bad(where, msg("column currency: expected an ISO 4217 code such as CNY, got {cur}", cur=repr(cur)))
    unit = (row.get("unit") or "").strip()
    if unit not in ("kg", "unit"):
        raise _bad(where, msg("column unit: expected 'kg' or 'unit', got {unit}", unit=repr(unit)))
    return PricePoint(day, pc, price, cur, unit)


def parse_csv(text: str, name: str = "(csv)") -> list[PricePoint]:
    """Every row of a price CSV, or ReceiverError naming the file, line and column of the first bad one."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    out: list[PricePoint] = []
    try:
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise _bad(name, msg("header: expected the columns {items}; missing {items2}", items=', '.join(COLUMNS),
                                 items2=', '.join(missing)))
        for row in reader:
            if len(out) >= MAX_ROWS:
                raise _bad(name, msg("more than {max_rows} rows: split the file", max_rows=MAX_ROWS))
            out.append(parse_row(row, f"{name} line {reader.line_num}"))
    except csv.Error as exc:  # a stray quote or a bare CR inside a field
        raise _bad(name, msg("line {line_num}: not CSV ({exc})", line_num=reader.line_num, exc=exc)) from None
    return out


def parse_json(raw: bytes, where: str = "body") -> list[PricePoint]:
    """``{"prices": [{day, product_class, price, currency, unit}, ...]}`` as price points, each checked like a
    CSV row; ReceiverError 400 naming the point and the column otherwise."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _bad(where, msg("expected JSON")) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("prices"), list):
        raise _bad(where, msg('expected {{"prices": [...]}}'))
    if len(doc["prices"]) > MAX_ROWS:
        raise _bad(where, msg("more than {max_rows} prices: split them", max_rows=MAX_ROWS))
    out = []
    for i, p in enumerate(doc["prices"]):
        if not isinstance(p, dict):
            raise _bad(f"{where} $.prices[{i}]", msg("expected an object"))
        out.append(parse_row({k: None if p.get(k) is None else str(p.get(k)) for k in COLUMNS},
                             f"{where} $.prices[{i}]"))
    return out


def store(rdb: Any, bank_id: str, points: list[PricePoint], source: str) -> dict[str, Any]:
    """Store the points for ``bank_id`` in one transaction (a day imported again is replaced)."""
    now = iso(utc_now())
    with rdb.write() as conn:
        if conn.execute("SELECT 1 FROM banks WHERE id = ?", (bank_id,)).fetchone() is None:
            raise ReceiverError("unknown_bank", msg("no bank {bank_id}", bank_id=repr(bank_id)), 404, status="error")
        for p in points:
            conn.execute(
                "INSERT INTO price_points (bank_id, product_class, day, price, currency, unit, source, imported)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bank_id, product_class, day) DO UPDATE SET"
                " price = excluded.price, currency = excluded.currency, unit = excluded.unit,"
                " source = excluded.source, imported = excluded.imported",
                (bank_id, p.product_class, p.day, p.price, p.currency, p.unit, source, now))
    classes = sorted({p.product_class for p in points})
    return {"bank": bank_id, "imported": len(points), "product_classes": classes, "source": source,
            "latest_day": max((p.day for p in points), default=None)}


def import_csv(rdb: Any, bank_id: str, path: str | Path) -> dict[str, Any]:
    """``cloud price import``: parse the whole file first, then store it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(str(p), msg("cannot read: {exc}", exc=exc)) from None
    return store(rdb, bank_id, parse_csv(text, str(p)), f"csv:{p.name}")


def latest(conn: Any, bank_id: str, product_class: str, as_of: int) -> dict[str, Any] | None:
    """The newest price of a class on or before the day of ``as_of`` (epoch seconds); None when none."""
    day = datetime.fromtimestamp(as_of, UTC).date().isoformat()
    row = conn.execute("SELECT day, price, currency, unit, source FROM price_points WHERE bank_id = ? AND"
                       " product_class = ? AND day <= ? ORDER BY day DESC LIMIT 1",
                       (bank_id, product_class, day)).fetchone()
    if row is None:
        return None
    age = (datetime.fromtimestamp(as_of, UTC).date() - date.fromisoformat(row[0])).days
    return {"day": row[0], "price": float(row[1]), "currency": row[2], "unit": row[3], "source": row[4],
            "age_days": age}


# --- API adapters ---------------------------------------------------------------------------


class PriceAdapter(ABC):
    """A price source reached through an API. One module per source; ``fetch`` returns the points
    for the classes asked for (the receiver stores them like a CSV import)."""

    name: ClassVar[str]

    @abstractmethod
    def fetch(self, product_classes: list[str], day: date) -> list[PricePoint]:
        """Prices of ``product_classes`` for ``day`` (fewer when the source has none)."""


_ADAPTERS: dict[str, type[PriceAdapter]] = {}


def register_adapter(cls: type[PriceAdapter]) -> type[PriceAdapter]:
    if cls.name in _ADAPTERS and _ADAPTERS[cls.name] is not cls:
        raise ValueError(f"two price adapters claim the name {cls.name!r}")
    _ADAPTERS[cls.name] = cls
    return cls


def adapters() -> dict[str, type[PriceAdapter]]:
    return dict(_ADAPTERS)


def pull(rdb: Any, bank_id: str, adapter: PriceAdapter, product_classes: list[str], day: date) -> dict[str, Any]:
    """Fetch from an adapter and store; each point is checked like a CSV row."""
    points = [parse_row({"day": p.day, "product_class": p.product_class, "price": repr(p.price),
                         "currency": p.currency, "unit": p.unit}, f"adapter {adapter.name}")
              for p in adapter.fetch(product_classes, day)]
    return store(rdb, bank_id, points, f"api:{adapter.name}")
