"""Issue 18, found by machine: property-based tests over the profile schema, the connectors'
parsers and the wire envelope parser. Random and extreme inputs give the documented error
(ProfileError naming the key, SourceError/ValueError, WireError), never another exception."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import wire
from gateway.connectors.readers import SourceError, read_csv, read_excel
from gateway.connectors.values import parse_datetime, parse_direction, parse_number
from gateway.profile import ProfileError, load_profile
from gateway.profile.schema import (
    Bus,
    Device,
    IndicatorsCfg,
    Model,
    MqttCfg,
    PointDef,
    Site,
    StatusCfg,
    StoreCfg,
    UplinkCfg,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- the profile schema: every key of every section gets a random TOML value ------------------------
BASE: dict[str, Any] = {
    "site": {"id": "s1"},
    "store": {}, "indicators": {}, "uplink": {"mqtt": {}}, "status": {},
    "buses": [{"name": "rs485", "kind": "serial", "port": "/dev/null"}],
    "models": {"m": {"name": "m", "points": [{"name": "p", "meaning": "energy.total_kwh", "address": 0}]}},
    "devices": [{"name": "d", "driver": "modbus_tcp", "model": "m", "host": "127.0.0.1"}],
}
SECTIONS = {"site": Site, "store": StoreCfg, "indicators": IndicatorsCfg, "uplink": UplinkCfg,
            "uplink.mqtt": MqttCfg, "status": StatusCfg, "buses[0]": Bus, "devices[0]": Device,
            "models.m": Model, "models.m.points[0]": PointDef}
KEYS = sorted(f"{sec}.{f}" for sec, typ in SECTIONS.items() for f in msgspec.structs.fields(typ)
              and [x.encode_name for x in msgspec.structs.fields(typ)])

scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=20), st.sampled_from(["0s", "15m", "-1", "1e999", "\ufeff", "", "127.0.0.1:0", "8.8.8.8:80"]),
    st.dates(), st.datetimes(), st.times())
values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                      st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                                                                      kids, max_size=3)), max_leaves=6)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_doc(data: dict[str, Any]) -> str:
    """The profile as TOML: every section an inline table (enough for any shape)."""
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in data.items())


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    import re

    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    cur: Any = data
    for p in parts[:-1]:
        cur = cur[int(p[1:-1])] if p.startswith("[") else cur[p]
    cur[parts[-1]] = value


@FAST
@given(key=st.sampled_from(KEYS), value=values)
def test_any_value_for_any_profile_key_loads_or_names_the_key(tmp_path: Path, key: str, value: Any) -> None:
    data = json.loads(json.dumps(BASE))
    _set(data, key, value)
    path = tmp_path / "p.toml"
    path.write_text(toml_doc(data), encoding="utf-8")
    try:
        load_profile(path)
    except ProfileError as exc:
        section = key.split(".")[0].split("[")[0]
        assert str(path) in str(exc) and (exc.key.startswith(section) or exc.key in ("(syntax)", "(file)")), (key, exc)


@FAST
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_profile_are_a_profile_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(data)
    try:
        load_profile(path)
    except ProfileError:
        pass


# -- the connectors' parsers ------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(raw=st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none(), st.booleans(), st.datetimes()))
def test_value_parsers_return_or_raise_value_error(raw: Any) -> None:
    for fn in (parse_number, parse_direction, lambda r: parse_datetime(r, ZoneInfo("Asia/Shanghai"))):
        try:
            out = fn(raw)
        except ValueError:
            continue
        if fn is parse_number and out is not None:
            assert math.isfinite(out), (raw, out)


csv_text = st.lists(st.lists(st.text(st.characters(exclude_categories=("Cs",)), max_size=8), max_size=5),
                    max_size=6).map(lambda rows: "\n".join(",".join(r) for r in rows))


@FAST
@given(data=st.one_of(st.binary(max_size=400), csv_text.map(lambda t: t.encode("utf-8")),
                      csv_text.map(lambda t: t.encode("gb18030"))),
       encoding=st.sampled_from(["auto", "utf-8", "gbk", "utf-8-sig"]), header_row=st.integers(1, 3))
def test_any_csv_bytes_read_or_are_a_source_error(tmp_path: Path, data: bytes, encoding: str, header_row: int) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(data)
    try:
        src = read_csv(p, encoding, ",", header_row)
    except SourceError:
        return
    for row in src.rows:
        assert row.line >= 1 and isinstance(row.values, dict)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_workbook_are_a_source_error(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "x.xlsx"
    p.write_bytes(b"PK\x03\x04" + data)
    try:
        list(read_excel(p).rows)
    except SourceError:
        pass


# -- the wire envelope parser -----------------------------------------------------------------------
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
                                     st.text(max_size=10)),
                           lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                  st.dictionaries(st.text(max_size=6), kids, max_size=4)),
                           max_leaves=8)
envelope_like = st.fixed_dictionaries({}, optional={
    "format": st.one_of(st.just(wire.FORMAT), json_values), "kid": st.one_of(st.text(max_size=20), json_values),
    "body": st.one_of(st.binary(max_size=60).map(wire.b64), json_values),
    "sig": st.one_of(st.binary(max_size=64).map(wire.b64), json_values),
    "head_sig": st.one_of(st.binary(max_size=64).map(wire.b64), json_values)})


@settings(max_examples=200, deadline=None)
@given(env=st.one_of(envelope_like, json_values,
                     envelope_like.map(lambda e: json.dumps(e, allow_nan=True).encode()),
                     st.binary(max_size=200),
                     st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)))
def test_any_envelope_parses_or_is_a_wire_error(env: Any) -> None:
    try:
        batch = wire.parse_envelope(env)
    except wire.WireError:
        return
    try:
        wire.decode_body(batch.body)
    except wire.WireError:
        pass


@settings(max_examples=200, deadline=None)
@given(body=st.one_of(json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()), st.binary(max_size=200),
                      st.fixed_dictionaries({"v": st.sampled_from([wire.VERSION, True, 1.0]), "seq": json_values,
                                             "prev": st.one_of(st.just("0" * 64), json_values),
                                             "records": json_values, "kid": json_values,
                                             "gateway": json_values, "enterprise": json_values,
                                             "created": json_values, "clock": json_values},
                                            optional={"heads_from": json_values})
                      .map(lambda d: json.dumps(d, allow_nan=True).encode()),
                      st.integers(1, 5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)))
def test_any_body_decodes_or_is_a_wire_error(body: bytes) -> None:
    try:
        obj = wire.decode_body(body)
    except wire.WireError:
        return
    assert isinstance(obj["seq"], int) and not isinstance(obj["seq"], bool) and obj["seq"] >= 1
