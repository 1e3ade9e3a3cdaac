"""Explainable scoring: a versioned scorecard table (TOML) and the arithmetic that applies it."""

from __future__ import annotations

from cloud_stub.scoring.config import ConfigError, ScoringConfig, load_config, shipped_path
from cloud_stub.scoring.scorecard import INSUFFICIENT, Sufficiency, finding_penalty, score_card

__all__ = ["INSUFFICIENT", "ConfigError", "ScoringConfig", "Sufficiency", "finding_penalty", "load_config",
           "score_card", "shipped_path"]
