"""The one rule interface: a cross-verification rule turns an enterprise's evidence into findings.

A rule compares sources over the same windows and says, in numbers, where they disagree.
Every finding carries enough for a credit analyst to redo the arithmetic by hand: the
rule and its version, the indicators and windows, the numbers compared, the baseline,
the statistic, the threshold and the direction of the disagreement. Rules are pure
functions of the evidence and their parameters, so a score built on them is reproducible.

New rules are new modules in this package that define a :class:`Rule` subclass decorated
with :func:`register`; nothing else is edited.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from cloud_stub.rule_inputs import RuleInputs

SEVERITIES = ("info", "yellow", "orange", "red")
SUBSCORES = ("production_authenticity", "operating_stability", "collateral_safety", "data_integrity")
# The second assessment (docs/scoring.md, "Repayment capacity"): its rules report in this
# sub-score only, and the authenticity scorecard never sees them.
REPAYMENT_SUBSCORE = "repayment_capacity"
ASSESSMENTS = ("authenticity", "repayment")


@dataclass(frozen=True)
class Finding:
    """One disagreement (or one noteworthy fact) found by a rule.

    ``key`` identifies the finding within its rule and version (typically the subject and
    window range), so re-running an analysis over the same data raises it once.
    ``direction`` is how the sources disagree, e.g. ``claims_exceed_evidence`` (the
    enterprise's own records claim more than the machines show), ``evidence_exceeds_claims``,
    ``above`` / ``below`` a baseline, ``missing``.
    """

    rule: str
    version: int
    severity: str
    subscore: str
    key: str
    window_start: int
    window_end: int
    indicators: tuple[str, ...]
    compared: Mapping[str, Any]
    statistic: Mapping[str, Any]
    threshold: Mapping[str, Any]
    direction: str
    message: str
    baseline: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")
        if self.subscore not in SUBSCORES and self.subscore != REPAYMENT_SUBSCORE:
            raise ValueError(f"subscore {self.subscore!r} is not one of {(*SUBSCORES, REPAYMENT_SUBSCORE)}")

    @property
    def dedupe(self) -> str:
        return f"{self.rule}:v{self.version}:{self.key}"

    def to_json(self) -> dict[str, Any]:
        """The finding as stored and served (plain JSON types only)."""
        out: dict[str, Any] = {
            "rule": self.rule, "version": self.version, "severity": self.severity, "subscore": self.subscore,
            "key": self.key, "window": {"start": self.window_start, "end": self.window_end},
            "indicators": list(self.indicators), "compared": dict(self.compared),
            "baseline": dict(self.baseline) if self.baseline is not None else None,
            "statistic": dict(self.statistic), "threshold": dict(self.threshold),
            "direction": self.direction, "message": self.message,
        }
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


class Rule(ABC):
    """A versioned cross-verification rule. Bump ``version`` whenever its arithmetic changes."""

    id: ClassVar[str]
    version: ClassVar[int]
    subscore: ClassVar[str]
    title: ClassVar[str]
    # Parameter defaults; the analysis configuration may override any of them by name.
    defaults: ClassVar[Mapping[str, Any]] = {}
    # Which assessment the rule feeds: "authenticity" (the scorecard) or "repayment"
    # (cloud_stub/repayment/assessment.py). The two registries never mix.
    assessment: ClassVar[str] = "authenticity"

    @abstractmethod
    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        """Findings for this enterprise's evidence; [] when the sources agree or are absent."""


_REGISTRY: dict[str, type[Rule]] = {}  # the newest version of each rule: what analyses run
_REPAYMENT: dict[str, type[Rule]] = {}  # the same for repayment-capacity rules
_VERSIONS: dict[tuple[str, int], type[Rule]] = {}  # every version still shipped: what rescores run


def register(cls: type[Rule]) -> type[Rule]:
    """Register a rule. A changed rule gets a new version and its old class stays registered
    (its own module, frozen) so a score made with it still rescores identically."""
    key = (cls.id, cls.version)
    if key in _VERSIONS and _VERSIONS[key] is not cls:
        raise ValueError(f"two rules claim the id {cls.id!r} version {cls.version}")
    if cls.assessment not in ASSESSMENTS:
        raise ValueError(f"rule {cls.id!r}: assessment {cls.assessment!r} is not one of {ASSESSMENTS}")
    _VERSIONS[key] = cls
    reg = _REPAYMENT if cls.assessment == "repayment" else _REGISTRY
    cur = reg.get(cls.id)
    if cur is None or cls.version > cur.version:
        reg[cls.id] = cls
    return cls


def registered() -> dict[str, type[Rule]]:
    """The current version of every authenticity rule, by id."""
    return dict(_REGISTRY)


def registered_repayment() -> dict[str, type[Rule]]:
    """The current version of every repayment-capacity rule, by id."""
    return dict(_REPAYMENT)


def registered_version(rule_id: str, version: int) -> type[Rule] | None:
    """The class of one version of a rule (an older one kept for rescoring), or None."""
    return _VERSIONS.get((rule_id, int(version)))
