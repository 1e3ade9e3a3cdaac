"""What a repayment-capacity rule reads: the verified indicator inputs, the outside records, the date.

The indicator inputs are the very :class:`~cloud_stub.rule_inputs.RuleInputs` the authenticity
analysis reads (same bounds, same digest); outside records (cloud_stub/outside/) are added as
the list the report states in its ``repayment.basis``, so a bank recomputes from exactly them.
Helpers here turn ERP indicators into aligned series; a value the bank cannot see (no record,
a suppressed small count) is NaN, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs

MONTH_MIN_S, MONTH_MAX_S = 27 * 86400, 32 * 86400


@dataclass
class RepaymentInputs:
    """One enterprise's repayment inputs as of ``as_of`` (epoch seconds, the report's)."""

    ev: RuleInputs
    as_of: int
    # Outside records (cloud_stub/outside/records.py ``as_basis`` form), oldest id first.
    outside: list[dict[str, Any]] = field(default_factory=list)

    @property
    def as_of_date(self) -> date:
        return datetime.fromtimestamp(self.as_of, UTC).date()

    def outside_of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.outside if r.get("kind") == kind]

    def daily(self, name: str, subject: str | None = None) -> np.ndarray:
        """An ERP/MES day indicator on the enterprise's local days (NaN: not observed)."""
        return self.ev.enterprise_daily(name, None if subject is None else (lambda s: s == subject))

    def day_starts(self) -> np.ndarray:
        return self.ev.day_windows()[0]

    def monthly(self, name: str, subject: str | None = None) -> list[tuple[int, float]]:
        """(window start, value) of a month-window indicator, oldest first, observed values only.
        Enterprise-wide indicators have one subject (``enterprise``); ``subject`` picks one otherwise."""
        out: list[tuple[int, float]] = []
        for (subj, n), s in sorted(self.ev.series_by_name.get(name, {}).items()):
            if (subject is not None and subj != subject) or not MONTH_MIN_S <= n <= MONTH_MAX_S:
                continue
            out += [(int(t), float(v)) for t, v in zip(s.start.tolist(), s.value.tolist(), strict=True) if v == v]
        return sorted(out)

    def has(self, name: str) -> bool:
        """Whether any record of ``name`` carries a value the bank can read."""
        return any(bool(np.isfinite(s.value).any()) for s in self.ev.series_by_name.get(name, {}).values())
