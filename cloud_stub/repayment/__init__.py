"""The repayment-capacity assessment: rules ``cloud_stub/rules/repay_*.py``, a versioned table,
forecasts and a receivables-based cash-flow projection, reported as the score report's
``repayment`` key next to the authenticity score (docs/scoring.md, "Repayment capacity")."""
