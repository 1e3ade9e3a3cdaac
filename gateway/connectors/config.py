"""``[[connectors]]`` in the profile: where an export is, which dataset it fills, how its
columns map onto the dataset's fields. Validated here with errors naming file and key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from gateway.connectors import expressions, units
from gateway.connectors.datasets import DATASETS, FIELD_UNITS, Dataset
from gateway.i18n import N_
from gateway.profile.load import PROFILE_DIR, ProfileError, _name_dict_key, _split_msgspec_error, msgspec_words

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
_WRITE_SQL = re.compile(r"\b(insert|update|delete|merge|replace|create|alter|drop|truncate|grant|revoke|"
                        r"attach|detach|pragma|vacuum|call|exec|execute|copy|lock|set)\b", re.IGNORECASE)


class Column(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One field's source: a column (with the unit its numbers are in and a scale), or an
    expression over this connector's other numeric columns (``expr = "completed_qty - good_qty"``)."""

    column: str | None = None
    unit: str | None = None  # a unit of units.toml: "h", "万元", "t"; converted to the field's unit
    scale: Annotated[float, msgspec.Meta(gt=0)] = 1.0  # an extra factor (e.g. 0.001), after the unit
    expr: str | None = None


class ConnectorCfg(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name
    kind: Literal["folder", "sql"]
    dataset: str
    # dataset field -> the export's column name (e.g. customer = "客户"), or a table
    # {column, unit, scale} or {expr} (see Column).
    columns: dict[str, str | Column]
    # Extra numeric columns that only feed expressions, by the name expressions use:
    # completed = {column = "完工数"}.
    inputs: dict[str, str | Column] = {}
    # folder: a drop folder; relative paths are in the state directory, "@profiles/..." is
    # beside the shipped profiles (the simulated factory's sample exports).
    path: str | None = None
    pattern: str = "*.csv"
    encoding: str = "auto"  # auto: UTF-8 (with or without BOM), else GB18030 (a superset of GBK)
    delimiter: str = ","
    sheet: str | None = None
    header_row: Annotated[int, msgspec.Meta(ge=1)] = 1
    # sql: an SQLAlchemy URL and one SELECT. SQLite is opened read-only (mode=ro); other
    # databases run the query inside a read-only transaction.
    url: str | None = None
    query: str | None = None
    # snapshot: a file (or query result) is the whole truth for the days it covers, so rows
    # missing from a corrected export are removed; append: rows are only added or updated.
    mode: Literal["snapshot", "append"] = "snapshot"
    scan_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0


def load_connectors(section: list[dict[str, Any]], file: str = "(profile)") -> list[ConnectorCfg]:
    out: list[ConnectorCfg] = []
    names: set[str] = set()
    for i, raw in enumerate(section):
        where = f"connectors[{i}]"
        try:
            cfg = msgspec.convert(raw, ConnectorCfg, strict=False)
        except msgspec.ValidationError as exc:
            k, msg = _split_msgspec_error(exc)
            k = _name_dict_key(raw, ConnectorCfg, k, str(exc))  # columns[...] -> columns.amount
            raise ProfileError(file, f"{where}.{k}", msgspec_words(msg)) from exc
        if cfg.name in names:
            raise ProfileError(file, f"{where}.name", N_("a unique connector name ({name} is used twice)"),
                                                      name=f'{cfg.name!r}')
        names.add(cfg.name)
        ds = DATASETS.get(cfg.dataset)
        if ds is None:
            raise ProfileError(file, f"{where}.dataset", N_("one of {DATASETS} (found {dataset})"),
                                                         DATASETS=sorted(DATASETS), dataset=f'{cfg.dataset!r}')
        unknown = sorted(set(cfg.columns) - set(ds.fields))
        if unknown:
            raise ProfileError(file, f"{where}.columns.{unknown[0]}",
                               N_("a field of dataset {name}: {fields}"), name=ds.name, fields=sorted(ds.fields))
        missing = [f for f in ds.required if f not in cfg.columns]
        if missing:
            raise ProfileError(file, f"{where}.columns", N_("a column for every required field of {name}: missing "
                                                            "{missing}"), name=ds.name, missing=missing)
        check_columns(cfg, ds, file, where)
        if cfg.kind == "folder" and not cfg.path:
            raise ProfileError(file, f"{where}.path", N_("the drop folder to read (kind = \"folder\")"))
        if cfg.kind == "sql":
            if not cfg.url:
                raise ProfileError(file, f"{where}.url", N_("an SQLAlchemy URL such as sqlite:///erp.db"))
            if not cfg.query:
                raise ProfileError(file, f"{where}.query", N_("one SELECT statement"))
            check_select(cfg.query, file, f"{where}.query")
        if cfg.encoding != "auto":
            try:
                "".encode(cfg.encoding)
            except LookupError:
                raise ProfileError(file, f"{where}.encoding", N_("a known text encoding or auto (found {encoding})"),
                                                              encoding=f'{cfg.encoding!r}') from None
        out.append(cfg)
    return out


def column_of(spec: str | Column) -> Column:
    return Column(column=spec) if isinstance(spec, str) else spec


def unit_factor(spec: Column, field_unit: str | None) -> float:
    """What a column's numbers are multiplied by on import: unit conversion, then scale."""
    if not spec.unit:
        return spec.scale
    return units.factor(spec.unit, field_unit or units.canonical(spec.unit)) * spec.scale


def check_columns(cfg: ConnectorCfg, ds: Dataset, file: str, where: str) -> None:
    """Units, scales and expressions, checked now so a typo stops the profile load, not an import."""
    numeric: set[str] = set()
    for kind, table in (("columns", cfg.columns), ("inputs", cfg.inputs)):
        for fname, raw in table.items():
            key = f"{where}.{kind}.{fname}"
            spec = column_of(raw)
            is_input = kind == "inputs"
            typ = "num" if is_input else ds.fields[fname]
            if is_input:
                if not expressions.is_name(fname) or fname in ds.fields:
                    raise ProfileError(file, key, N_("an input name usable in expressions (letters, digits, _; not a "
                                                     "field of {name}, not a keyword or function name)"), name=ds.name)
                if spec.expr is not None:
                    raise ProfileError(file, f"{key}.expr", N_("a column (inputs read columns; put expressions under "
                                                               "columns)"))
            if (spec.column is None) == (spec.expr is None):
                raise ProfileError(file, key, N_("either column = \"<the export's column name>\" or expr = "
                                                 "\"<arithmetic on other columns>\""))
            if spec.column is not None and not spec.column.strip():
                raise ProfileError(file, f"{key}.column", N_("a column name (found an empty string)"))
            if typ != "num" and (spec.unit is not None or spec.scale != 1.0 or spec.expr is not None):
                what = "unit" if spec.unit is not None else "scale" if spec.scale != 1.0 else "expr"
                raise ProfileError(file, f"{key}.{what}", N_("no {what}: {fname} is a {typ} field (units, scales and "
                                                             "expressions apply to numeric fields)"),
                                                          what=what, fname=fname, typ=typ)
            if spec.expr is not None and (spec.unit is not None or spec.scale != 1.0):
                raise ProfileError(file, f"{key}.{'unit' if spec.unit is not None else 'scale'}",
                                   N_("no unit or scale on an expression (its inputs are converted already; the "
                                      "result is in {value})"), value=FIELD_UNITS.get(fname, 'the field unit'))
            if spec.unit is not None:
                try:
                    unit_factor(spec, None if is_input else FIELD_UNITS.get(fname))
                except ValueError as exc:
                    raise ProfileError(file, f"{key}.unit", N_("{error}"), error=exc) from None
            if typ == "num" and spec.column is not None:
                numeric.add(fname)
    for fname, raw in cfg.columns.items():
        spec = column_of(raw)
        if spec.expr is None:
            continue
        try:
            expressions.check(spec.expr, sorted(n for n in numeric if expressions.is_name(n)))
        except expressions.ExpressionError as exc:
            raise ProfileError(file, f"{where}.columns.{fname}.expr", N_("{error}"), error=exc) from None


def check_select(query: str, file: str = "(profile)", key: str = "query") -> None:
    """A belt to the read-only braces: one statement, a SELECT (or WITH ... SELECT), no
    keyword that writes or changes a setting."""
    q = query.strip().rstrip(";")
    bare = re.sub(r"'[^']*'", "''", q)  # string literals may hold anything
    if ";" in bare:
        raise ProfileError(file, key, N_("exactly one statement (found ';')"))
    if not re.match(r"^\s*(select|with)\b", q, re.IGNORECASE):
        raise ProfileError(file, key, N_("a SELECT (or WITH ... SELECT) statement"))
    bad = _WRITE_SQL.search(bare)
    if bad:
        raise ProfileError(file, key, N_("a read-only query (found {value})"), value=f'{bad.group(0)!r}')


def resolve_path(path: str, state_dir: str | Path) -> Path:
    if path.startswith("@profiles/"):
        return PROFILE_DIR / path[len("@profiles/"):]
    p = Path(path)
    return p if p.is_absolute() else Path(state_dir) / p
