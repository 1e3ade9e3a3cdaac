"""Shared parts of the repayment-capacity rules (modules ``repay_*.py`` in this package).

They are ordinary versioned rules registered with :func:`cloud_stub.rules.base.register`, but
in the *repayment* registry: the authenticity scorecard never runs them, the repayment
assessment (cloud_stub/repayment/assessment.py) runs nothing else. Each says which inputs it
needs (:meth:`RepaymentRule.observed`), so the assessment can report coverage: a rule whose
inputs are missing is "not observed", never a clean zero.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cloud_stub.rules.base import REPAYMENT_SUBSCORE, Finding, Rule

if TYPE_CHECKING:
    from cloud_stub.repayment.inputs import RepaymentInputs


class RepaymentRule(Rule):
    """A rule of the repayment assessment: reads :class:`RepaymentInputs`, reports in one sub-score."""

    assessment: ClassVar[str] = "repayment"
    subscore: ClassVar[str] = REPAYMENT_SUBSCORE
    # Indicator names this rule reads (all needed), or outside record kinds as "outside:<kind>".
    needs: ClassVar[tuple[str, ...]] = ()

    def observed(self, ri: RepaymentInputs) -> bool:
        """Whether the rule had its inputs; without them it is "not observed" in the coverage."""
        for need in self.needs:
            if need.startswith("outside:"):
                continue  # outside sources: observed when any source was imported (see assessment)
            if not ri.has(need):
                return False
        return True

    def evaluate(self, ev: Any, params: Mapping[str, Any]) -> list[Finding]:
        return self.assess(ev, params)

    @abstractmethod
    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        """Findings from the repayment inputs; [] when nothing is wrong or inputs are missing."""

    def finding(self, ri: RepaymentInputs, severity: str, key: str, start: int, end: int, compared: Mapping[str, Any],
                statistic: Mapping[str, Any], threshold: Mapping[str, Any], direction: str, message: str,
                indicators: tuple[str, ...] | None = None, **extra: Any) -> Finding:
        return Finding(rule=self.id, version=self.version, severity=severity, subscore=self.subscore, key=key,
                       window_start=int(start), window_end=int(end),
                       indicators=indicators if indicators is not None else tuple(self.needs),
                       compared=compared, statistic=statistic, threshold=threshold, direction=direction,
                       message=message, extra=extra)


def halves(x: np.ndarray, min_days: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The observed days split into the earlier and the later half (None: too few on either side)."""
    idx = np.flatnonzero(np.isfinite(x))
    if len(idx) < 2 * min_days:
        return None
    mid = len(idx) // 2
    return idx[:mid], idx[mid:]


def grade(x: float, yellow: float, orange: float, red: float) -> str | None:
    """Severity for a value that is worse when larger (thresholds ascending); None below yellow."""
    if not np.isfinite(x) or x < yellow:
        return None
    return "red" if x >= red else "orange" if x >= orange else "yellow"
