"""Column units: what a number in an export means (hours, 万元, t) and the factor that turns it
into the unit of the dataset field it fills (minutes, yuan, kg). The table is data
(``units.toml`` beside this module); a dataset field's own unit is in ``datasets.FIELD_UNITS``."""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gateway.connectors.reasons import RowError
from gateway.i18n import N_

TABLE = Path(__file__).with_name("units.toml")
# The unit a dataset field of each kind is stored in (datasets.FIELD_UNITS uses these); an
# expression input declaring a unit is converted to these too, so expressions add like with like.
CANONICAL = {"time": "min", "mass": "kg", "money": "CNY", "count": "pcs"}


@dataclass(frozen=True)
class Unit:
    name: str
    dimension: str  # time | mass | money | count
    size: float  # in the dimension's base unit


def norm_unit(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip()


@cache
def units() -> dict[str, Unit]:
    """Every known unit by (normalised) name."""
    data = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    out: dict[str, Unit] = {}
    for dim, table in data.items():
        for name, size in table.items():
            if not isinstance(size, int | float) or isinstance(size, bool) or size <= 0:
                raise RowError(N_("{file}: {key}: a positive size (found {found})"), file=TABLE, key=f"{dim}.{name}",
                               found=repr(size))
            key = norm_unit(name)
            if key in out:
                raise RowError(N_("{file}: {key}: a unit named once (also in {other})"), file=TABLE,
                               key=f"{dim}.{name}", other=out[key].dimension)
            out[key] = Unit(key, dim, float(size))
    return out


def lookup(name: str) -> Unit | None:
    return units().get(norm_unit(name))


def known_units(dimension: str | None = None) -> list[str]:
    return sorted(u.name for u in units().values() if dimension is None or u.dimension == dimension)


def factor(column_unit: str, field_unit: str) -> float:
    """Multiply a value in ``column_unit`` by this to get ``field_unit``; ValueError when either
    is unknown or they measure different things (hours into kilograms)."""
    src, dst = lookup(column_unit), lookup(field_unit)
    if src is None:
        raise RowError(N_("a known unit: {units} (found {found})"), units=known_units(), found=repr(column_unit))
    if dst is None:  # pragma: no cover - FIELD_UNITS uses table units only (a test checks)
        raise RowError(N_("field unit {unit} is not in {file}"), unit=repr(field_unit), file=TABLE.name)
    if src.dimension != dst.dimension:
        raise RowError(N_("a {dimension} unit such as {units} (found {found}, a {other} unit)"),
                       dimension=dst.dimension, units=known_units(dst.dimension), found=repr(column_unit),
                       other=src.dimension)
    return src.size / dst.size


def canonical(column_unit: str) -> str:
    """The stored unit for values declared in ``column_unit`` (hours -> min); ValueError if unknown."""
    u = lookup(column_unit)
    if u is None:
        raise RowError(N_("a known unit: {units} (found {found})"), units=known_units(), found=repr(column_unit))
    return CANONICAL[u.dimension]
