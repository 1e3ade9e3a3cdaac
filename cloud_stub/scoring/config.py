"""The scorecard configuration: one versioned TOML file, validated completely on load.

A score is only as explainable as the table behind it, so the table is data, not code:
weights, caps, grade bands and reason codes live in ``scorecard-v<N>.toml`` files shipped
in this package. Every problem is reported with the file, the key and what was expected,
and a half-valid file is never used. The configuration's hash (over its parsed content,
so comments and layout do not count) is stored with every score.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_stub.rules.base import SEVERITIES, SUBSCORES
from cloud_stub.texts import msg

CONFIG_DIR = Path(__file__).parent
DEFAULT_VERSION = "scorecard-v1"
LEVELS = ("green", "yellow", "orange", "red")
GRADES = ("A", "B", "C", "D")  # "E" is everything below D
SUBSCORE_PREFIX = {"production_authenticity": "PA", "operating_stability": "OS",
                   "collateral_safety": "CS", "data_integrity": "DI"}
_CODE = re.compile(r"^[A-Z]{2}\d{2}$")


class ConfigError(ValueError):
    """A scorecard file that cannot be used; the message names the file, the key and the expectation."""

    def __init__(self, path: str | Path, key: str, expected: str, found: Any = None) -> None:
        # English in str(exc); the CLI renders the Msg (and ``expected``, a msg too) in the operator's language
        super().__init__(msg("{path}: {key}: expected {expected}", path=str(path), key=key, expected=expected)
                         if found is None else msg("{path}: {key}: expected {expected}, found {found}",
                                                   path=str(path), key=key, expected=expected, found=repr(found)))
        self.path, self.key, self.expected = str(path), key, expected


@dataclass(frozen=True)
class Reason:
    code: str
    text: str


@dataclass(frozen=True)
class ScoringConfig:
    """A validated scorecard table; ``sha256`` identifies its content."""

    path: str
    version: str
    base_score: float
    base_odds: float
    pdo: float
    clean_odds: float
    grades: Mapping[str, float]
    warning_by_grade: Mapping[str, str]
    red_floor_subscores: tuple[str, ...]
    red_elsewhere: str
    orange_any: str
    equivocation_level: str
    insufficient_level: str
    severity_weight: Mapping[str, float]
    subscore_weight: Mapping[str, float]
    persistence_per_day: float
    persistence_max: float
    rule_cap: float
    rule_caps: Mapping[str, float]
    rule_weights: Mapping[str, float]
    subscore_cap: Mapping[str, float]
    min_days_with_data: int
    min_indicator_records: int
    min_source_families: int
    max_days_since_data: float
    reasons: Mapping[str, Reason]
    rule_params: Mapping[str, Mapping[str, Any]]
    sha256: str

    @property
    def factor(self) -> float:
        """Points per unit of natural log-odds: PDO / ln 2."""
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def points(self, log_odds: float) -> float:
        return self.offset + self.factor * log_odds

    def reason_for(self, rule: str, subscore: str) -> Reason:
        """The rule's own code, or its sub-score's catch-all (PA99 ...) when it has none."""
        if rule in self.reasons:
            return self.reasons[rule]
        name = subscore.replace("_", " ")
        return Reason(f"{SUBSCORE_PREFIX[subscore]}99", f"Other {name} findings")

    def params_for(self, rule_id: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """A rule's defaults overridden by this table's ``[rules.<id>]``."""
        return {**defaults, **self.rule_params.get(rule_id, {})}


class _Reader:
    """Typed access to the parsed TOML that turns every mismatch into a ConfigError."""

    def __init__(self, path: str | Path, data: Mapping[str, Any]) -> None:
        self.path, self.data = path, data

    def get(self, dotted: str, default: Any = ...) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is not ...:
                    return default
                raise ConfigError(self.path, dotted, msg("this key (it is required)"))
            node = node[part]
        return node

    def table(self, dotted: str, default: Any = ...) -> Mapping[str, Any]:
        value = self.get(dotted, default)
        if not isinstance(value, Mapping):
            raise ConfigError(self.path, dotted, msg("a table"), value)
        return value

    def number(self, dotted: str, *, low: float | None = None, high: float | None = None,
               positive: bool = False) -> float:
        return self.check_number(dotted, self.get(dotted), low=low, high=high, positive=positive)

    def check_number(self, key: str, value: Any, *, low: float | None = None, high: float | None = None,
                     positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(self.path, key, msg("a finite number"), value)
        if positive and value <= 0:
            raise ConfigError(self.path, key, msg("a number > 0"), value)
        if low is not None and value < low:
            raise ConfigError(self.path, key, msg("a number >= {low}", low=low), value)
        if high is not None and value > high:
            raise ConfigError(self.path, key, msg("a number <= {high}", high=high), value)
        return float(value)

    def integer(self, dotted: str, low: int = 0) -> int:
        value = self.get(dotted)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(self.path, dotted, msg("an integer >= {low}", low=low), value)
        return value

    def choice(self, dotted: str, value: Any, options: tuple[str, ...]) -> str:
        if value not in options:
            raise ConfigError(self.path, dotted, msg("one of {items}", items=', '.join(options)), value)
        return str(value)

    def exact_keys(self, dotted: str, table: Mapping[str, Any], keys: tuple[str, ...]) -> None:
        missing = [k for k in keys if k not in table]
        extra = [k for k in table if k not in keys]
        if missing:
            raise ConfigError(self.path, f"{dotted}.{missing[0]}", msg("this key (it is required)"))
        if extra:
            raise ConfigError(self.path, f"{dotted}.{extra[0]}", msg("only the keys {items}", items=', '.join(keys)))


def content_sha256(data: Mapping[str, Any]) -> str:
    """Hash of the parsed table (canonical JSON), so comments and layout do not change it."""
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


def shipped_path(version: str) -> Path:
    """The file that ships a scoring version (``scorecard-v1`` -> scorecard-v1.toml here)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", version):
        raise ValueError(f"scoring version {version!r} is not a plain name")
    return CONFIG_DIR / f"{version}.toml"


def load_config(path: str | Path | None = None, known_rules: Mapping[str, Any] | None = None) -> ScoringConfig:
    """Read and validate a scorecard file (default: the shipped current version).

    ``known_rules`` (rule id -> Rule class) lets the loader reject overrides and reason codes
    for rules that do not exist and parameters a rule does not have: a typo must not silently
    leave a default in place.
    """
    path = Path(path) if path is not None else shipped_path(DEFAULT_VERSION)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, "(file)", msg("a readable TOML file"), exc.strerror) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "(file)", msg("valid UTF-8 TOML"), str(exc)) from exc
    return _validate(_Reader(path, data), known_rules)


def _validate(r: _Reader, known_rules: Mapping[str, Any] | None) -> ScoringConfig:
    known_top = ("scorecard", "grades", "warning", "penalties", "rule_caps", "rule_weights", "subscores", "sufficiency",
                 "reasons", "rules")
    for key in r.data:
        if key not in known_top:
            raise ConfigError(r.path, key, msg("only the tables {items}", items=', '.join(known_top)))
    version = r.get("scorecard.version")
    if not isinstance(version, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", version):
        raise ConfigError(r.path, "scorecard.version", msg("a plain lower-case name such as 'scorecard-v1'"), version)
    base_odds = r.number("scorecard.base_odds", positive=True)
    clean_odds = r.number("scorecard.clean_odds", positive=True)

    grades_t = r.table("grades")
    r.exact_keys("grades", grades_t, GRADES)
    grades = {g: r.check_number(f"grades.{g}", grades_t[g]) for g in GRADES}
    for hi, lo in zip(GRADES, GRADES[1:], strict=False):
        if grades[hi] <= grades[lo]:
            raise ConfigError(r.path, f"grades.{hi}", msg("a minimum above grades.{lo} ({grades})", lo=lo,
                                                          grades=grades[lo]), grades[hi])

    by_grade_t = r.table("warning.by_grade")
    r.exact_keys("warning.by_grade", by_grade_t, (*GRADES, "E"))
    by_grade = {g: r.choice(f"warning.by_grade.{g}", v, LEVELS) for g, v in by_grade_t.items()}
    floor = r.get("warning.red_floor_subscores")
    if not isinstance(floor, list):
        raise ConfigError(r.path, "warning.red_floor_subscores", msg("a list of sub-score names"), floor)
    floor_t = tuple(r.choice("warning.red_floor_subscores", s, SUBSCORES) for s in floor)

    sev_t = r.table("penalties.severity")
    r.exact_keys("penalties.severity", sev_t, SEVERITIES)
    sub_t = r.table("penalties.subscore")
    r.exact_keys("penalties.subscore", sub_t, SUBSCORES)
    subs_t = r.table("subscores")
    r.exact_keys("subscores", subs_t, SUBSCORES)
    for name in SUBSCORES:
        r.exact_keys(f"subscores.{name}", r.table(f"subscores.{name}"), ("cap",))

    caps_t = r.table("rule_caps", {})
    weights_t = r.table("rule_weights", {})
    reasons = _reasons(r, known_rules)
    rule_params = _rule_params(r, known_rules)
    for table, entries in (("rule_caps", caps_t), ("rule_weights", weights_t)):
        for rule in entries:
            _known_rule(r, f"{table}.{rule}", rule, known_rules)
    suff = r.table("sufficiency")
    r.exact_keys("sufficiency", suff, ("min_days_with_data", "min_indicator_records", "min_source_families",
                                       "max_days_since_data"))
    return ScoringConfig(
        path=str(r.path), version=version,
        base_score=r.number("scorecard.base_score"), base_odds=base_odds,
        pdo=r.number("scorecard.pdo", positive=True), clean_odds=clean_odds, grades=grades,
        warning_by_grade=by_grade, red_floor_subscores=floor_t,
        red_elsewhere=r.choice("warning.red_elsewhere", r.get("warning.red_elsewhere"), LEVELS),
        orange_any=r.choice("warning.orange_any", r.get("warning.orange_any"), LEVELS),
        equivocation_level=r.choice("warning.equivocation", r.get("warning.equivocation"), LEVELS),
        insufficient_level=r.choice("warning.insufficient_data", r.get("warning.insufficient_data"), LEVELS),
        severity_weight={s: r.check_number(f"penalties.severity.{s}", sev_t[s], low=0) for s in SEVERITIES},
        subscore_weight={s: r.check_number(f"penalties.subscore.{s}", sub_t[s], low=0) for s in SUBSCORES},
        persistence_per_day=r.number("penalties.persistence_per_day", low=0),
        persistence_max=r.number("penalties.persistence_max", low=1),
        rule_cap=r.number("penalties.rule_cap", positive=True),
        rule_caps={k: r.check_number(f"rule_caps.{k}", v, positive=True) for k, v in caps_t.items()},
        rule_weights={k: r.check_number(f"rule_weights.{k}", v, low=0) for k, v in weights_t.items()},
        subscore_cap={s: r.number(f"subscores.{s}.cap", positive=True) for s in SUBSCORES},
        min_days_with_data=r.integer("sufficiency.min_days_with_data"),
        min_indicator_records=r.integer("sufficiency.min_indicator_records"),
        min_source_families=r.integer("sufficiency.min_source_families"),
        max_days_since_data=r.number("sufficiency.max_days_since_data", positive=True),
        reasons=reasons, rule_params=rule_params, sha256=content_sha256(r.data),
    )


def _known_rule(r: _Reader, key: str, rule: str, known_rules: Mapping[str, Any] | None) -> None:
    if known_rules is not None and rule not in known_rules:
        names = ", ".join(sorted(known_rules)) or "(none registered)"
        raise ConfigError(r.path, key, msg("a registered rule id ({names})", names=names), rule)


def _reasons(r: _Reader, known_rules: Mapping[str, Any] | None) -> dict[str, Reason]:
    out: dict[str, Reason] = {}
    seen: dict[str, str] = {}
    for rule, entry in r.table("reasons", {}).items():
        key = f"reasons.{rule}"
        _known_rule(r, key, rule, known_rules)
        if not isinstance(entry, Mapping):
            raise ConfigError(r.path, key, msg("a table with code and text"), entry)
        r.exact_keys(key, entry, ("code", "text"))
        code, text = entry["code"], entry["text"]
        if not isinstance(code, str) or not _CODE.match(code) or code.endswith("99"):
            raise ConfigError(r.path, f"{key}.code", msg("two capitals and two digits, e.g. PA01 (xx99 is "
                                                         "reserved)"),
                              code)
        if code in seen:
            raise ConfigError(r.path, f"{key}.code", msg("a code not already used by {seen}", seen=seen[code]), code)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(r.path, f"{key}.text", msg("a non-empty string"), text)
        seen[code] = rule
        out[rule] = Reason(code, text)
    return out


def _rule_params(r: _Reader, known_rules: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rule, params in r.table("rules", {}).items():
        key = f"rules.{rule}"
        _known_rule(r, key, rule, known_rules)
        if not isinstance(params, Mapping):
            raise ConfigError(r.path, key, msg("a table of parameter overrides"), params)
        if known_rules is not None:
            defaults = known_rules[rule].defaults
            for name, value in params.items():
                if name not in defaults:
                    raise ConfigError(r.path, f"{key}.{name}",
                                      msg("one of the rule's parameters ({value})",
                                          value=', '.join(sorted(defaults)) or 'none'))
                dflt = defaults[name]
                if isinstance(dflt, bool) != isinstance(value, bool) or (
                    isinstance(dflt, int | float) and not isinstance(value, int | float)
                ) or (isinstance(dflt, str) and not isinstance(value, str)):
                    raise ConfigError(r.path, f"{key}.{name}", msg("a value of the default's type ({dflt})",
                                                                   dflt=repr(dflt)), value)
        out[rule] = dict(params)
    return out
