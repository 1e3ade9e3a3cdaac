"""The repayment assessment's table: one versioned TOML file, validated completely on load.

Like the scorecard (cloud_stub/scoring/config.py): every problem names the file, the key and
what was expected; the content hash is stored with every assessment.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_stub.scoring.config import GRADES, LEVELS, ConfigError, content_sha256
from cloud_stub.texts import msg

CALIBRATIONS = ("centred-bootstrap-v1",)

CONFIG_DIR = Path(__file__).parent
DEFAULT_VERSION = "repayment-v2"
BUCKETS = ("current", "1-30", "31-60", "61-90", ">90")
_CODE = re.compile(r"^RC\d{2}$")


@dataclass(frozen=True)
class RepaymentConfig:
    path: str
    version: str
    points: Mapping[str, float]
    rule_cap: float
    grades: Mapping[str, float]
    level_by_grade: Mapping[str, str]
    red_any: str
    orange_any: str
    min_share: float
    collect: Mapping[int, Mapping[str, float]]
    forecast_level: float
    horizons: tuple[int, ...]
    reasons: Mapping[str, tuple[str, str]]
    sha256: str
    # From repayment-v2 on (absent in v1, whose reports must rescore as they were made): how the forecast
    # intervals are calibrated (cloud_stub/repayment/forecast.py, CALIBRATIONS) and the horizon of the
    # open orders' progress against due dates (cloud_stub/repayment/orders.py); None: not done.
    forecast_calibration: str | None = None
    orders_horizon: int | None = None


def shipped_path(version: str) -> Path:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", version):
        raise ValueError(f"repayment version {version!r} is not a plain name")
    return CONFIG_DIR / f"{version}.toml"


def _num(path: Path, key: str, v: Any, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not low <= v <= high:
        raise ConfigError(path, key, msg("a number from {low} to {high}", low=f"{low:g}", high=f"{high:g}"), v)
    return float(v)


def _table(path: Path, data: Mapping[str, Any], dotted: str) -> Mapping[str, Any]:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(path, dotted, msg("this table (it is required)"))
        node = node[part]
    if not isinstance(node, Mapping):
        raise ConfigError(path, dotted, msg("a table"), node)
    return node


def _exact(path: Path, dotted: str, t: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for k in keys:
        if k not in t:
            raise ConfigError(path, f"{dotted}.{k}", msg("this key (it is required)"))
    for k in t:
        if k not in keys:
            raise ConfigError(path, f"{dotted}.{k}", msg("only the keys {keys}", keys=", ".join(keys)))


def load_repayment_config(path: str | Path | None = None,
                          known_rules: Mapping[str, Any] | None = None) -> RepaymentConfig:
    """Read and validate a repayment table (default: the shipped current version)."""
    path = Path(path) if path is not None else shipped_path(DEFAULT_VERSION)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(path, "(file)", msg("a readable TOML file"), exc.strerror) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "(file)", msg("valid UTF-8 TOML"), str(exc)) from exc
    _exact(path, "(top)", {k: v for k, v in data.items() if k != "orders"},
           ("repayment", "points", "grades", "level", "coverage", "cash_flow", "forecast", "reasons"))
    version = _table(path, data, "repayment").get("version")
    if not isinstance(version, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", version):
        raise ConfigError(path, "repayment.version", msg("a plain lower-case name such as {example}",
                                                         example="'repayment-v1'"), version)
    pts = _table(path, data, "points")
    _exact(path, "points", pts, ("info", "yellow", "orange", "red", "rule_cap"))
    grades_t = _table(path, data, "grades")
    _exact(path, "grades", grades_t, GRADES)
    grades = {g: _num(path, f"grades.{g}", grades_t[g], 0, 100) for g in GRADES}
    for hi, lo in zip(GRADES, GRADES[1:], strict=False):
        if grades[hi] <= grades[lo]:
            raise ConfigError(path, f"grades.{hi}", msg("a minimum above grades.{lower} ({minimum})", lower=lo,
                                                         minimum=grades[lo]), grades[hi])
    lvl = _table(path, data, "level")
    _exact(path, "level", lvl, ("by_grade", "red_any", "orange_any"))
    by_grade = _table(path, data, "level.by_grade")
    _exact(path, "level.by_grade", by_grade, (*GRADES, "E"))
    for k in ("red_any", "orange_any"):
        if lvl[k] not in LEVELS:
            raise ConfigError(path, f"level.{k}", msg("one of {choices}", choices=", ".join(LEVELS)), lvl[k])
    for g, v in by_grade.items():
        if v not in LEVELS:
            raise ConfigError(path, f"level.by_grade.{g}", msg("one of {choices}", choices=", ".join(LEVELS)), v)
    cov = _table(path, data, "coverage")
    _exact(path, "coverage", cov, ("min_share",))
    cash = _table(path, data, "cash_flow")
    _exact(path, "cash_flow", cash, ("collect_30", "collect_90"))
    collect: dict[int, dict[str, float]] = {}
    for h in (30, 90):
        t = _table(path, data, f"cash_flow.collect_{h}")
        _exact(path, f"cash_flow.collect_{h}", t, BUCKETS)
        collect[h] = {b: _num(path, f"cash_flow.collect_{h}.{b}", t[b], 0, 1) for b in BUCKETS}
    fc = _table(path, data, "forecast")
    _exact(path, "forecast", {k: v for k, v in fc.items() if k != "calibration"}, ("level", "horizons"))
    calibration = fc.get("calibration")
    if calibration is not None and calibration not in CALIBRATIONS:
        raise ConfigError(path, "forecast.calibration", msg("one of {choices}", choices=", ".join(CALIBRATIONS)),
                          calibration)
    orders_horizon = None
    if "orders" in data:
        ot = _table(path, data, "orders")
        _exact(path, "orders", ot, ("horizon_days",))
        h = ot["horizon_days"]
        if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 366:
            raise ConfigError(path, "orders.horizon_days", msg("whole days from 1 to 366"), h)
        if h not in tuple(fc["horizons"]):
            raise ConfigError(path, "orders.horizon_days", msg(
                "one of forecast.horizons {horizons} (the shortfall compares with that horizon's production forecast)",
                horizons=fc["horizons"]), h)
        orders_horizon = h
    hz = fc["horizons"]
    if not isinstance(hz, list) or not hz or any(isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 366
                                                 for h in hz):
        raise ConfigError(path, "forecast.horizons", msg("a list of whole days from 1 to 366"), hz)
    reasons: dict[str, tuple[str, str]] = {}
    for rule, entry in _table(path, data, "reasons").items():
        if known_rules is not None and rule not in known_rules:
            raise ConfigError(path, f"reasons.{rule}", msg("a repayment rule id ({rules})",
                                                           rules=", ".join(sorted(known_rules))))
        if not isinstance(entry, Mapping):
            raise ConfigError(path, f"reasons.{rule}", msg("a table with code and text"), entry)
        _exact(path, f"reasons.{rule}", entry, ("code", "text"))
        if not isinstance(entry["code"], str) or not _CODE.match(entry["code"]):
            raise ConfigError(path, f"reasons.{rule}.code", msg("RC and two digits, e.g. RC01"), entry["code"])
        reasons[rule] = (entry["code"], str(entry["text"]))
    return RepaymentConfig(
        path=str(path), version=version,
        points={k: _num(path, f"points.{k}", pts[k], 0, 100) for k in ("info", "yellow", "orange", "red")},
        rule_cap=_num(path, "points.rule_cap", pts["rule_cap"], 0, 100), grades=grades,
        level_by_grade=dict(by_grade), red_any=str(lvl["red_any"]), orange_any=str(lvl["orange_any"]),
        min_share=_num(path, "coverage.min_share", cov["min_share"], 0, 1), collect=collect,
        forecast_level=_num(path, "forecast.level", fc["level"], 0.5, 0.999), horizons=tuple(hz),
        reasons=reasons, sha256=content_sha256(data), forecast_calibration=calibration,
        orders_horizon=orders_horizon)
