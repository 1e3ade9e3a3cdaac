"""Forecasts of daily production and sales with prediction intervals (statsmodels ETS).

Receiver side only. The model is an additive-error exponential smoothing state-space model
(``statsmodels.tsa.exponential_smoothing.ets.ETSModel``) with a weekly additive season when
there are at least three weeks of history, fitted by maximum likelihood. Per-day intervals
come from the model's analytic prediction variance; the interval of a 30- or 90-day *total*
(the days are correlated) from ``repetitions`` simulated paths with a fixed random state, so the
same history gives the same numbers bit for bit (the report must rescore identically).
Negative simulated days are clipped at zero (a plant does not un-produce).

statsmodels is imported lazily: it costs about a second, and a receiver that never forecasts
(or a ``cloud --help``) must not pay it.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

SEASON = 7
MIN_DAYS = 21
REPETITIONS = 200
SEED = 20260907


def fill_gaps(y: np.ndarray) -> tuple[np.ndarray, int]:
    """Unknown days inside the history filled with the median of the same weekday position
    (never with zero); leading unknown days dropped. Returns (series, days filled)."""
    idx = np.flatnonzero(np.isfinite(y))
    if len(idx) == 0:
        return np.array([]), 0
    y = y[idx[0]: idx[-1] + 1].astype(float)
    gaps = np.flatnonzero(~np.isfinite(y))
    for i in gaps:
        same = y[i % SEASON:: SEASON]
        same = same[np.isfinite(same)]
        y[i] = float(np.median(same)) if len(same) else float(np.nanmedian(y))
    return y, len(gaps)


def _model(y: np.ndarray) -> Any:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = pd.Series(y, index=pd.RangeIndex(len(y)))
    seasonal = len(y) >= 3 * SEASON
    model = ETSModel(y, error="add", trend=None, seasonal="add" if seasonal else None,
                     seasonal_periods=SEASON if seasonal else None,
                     initialization_method="heuristic" if seasonal else "estimated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the fit is checked by the interval coverage bench
        return model.fit(disp=False, maxiter=200)


def _r(x: float, nd: int = 2) -> float | None:
    return round(float(x), nd) if math.isfinite(x) else None


def dof_factor(n: int, seasonal: bool) -> float:
    """Widening for the parameters estimated from a short history: the model's error variance is the
    mean squared residual, which on 3-5 weeks with 7 seasonal states understates the real one;
    ``sqrt(n / (n - k))`` (k = level, season states, two smoothing weights, sigma) corrects it."""
    k = (1 + SEASON + 2 + 1) if seasonal else 3
    return math.sqrt(n / max(1, n - k))


def daily_interval(y: np.ndarray, horizon: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lower, upper) per day for the next ``horizon`` days, analytic intervals (dof-corrected)."""
    fit = _model(y)
    pred = fit.get_prediction(start=len(y), end=len(y) + horizon - 1)
    frame = pred.summary_frame(alpha=1 - level)
    mean = np.asarray(frame["mean"], float)
    k = dof_factor(len(y), len(y) >= 3 * SEASON)
    return (mean, mean - k * (mean - np.asarray(frame["pi_lower"], float)),
            mean + k * (np.asarray(frame["pi_upper"], float) - mean))


def forecast(y: np.ndarray, horizons: tuple[int, ...] = (30, 90), level: float = 0.9) -> dict[str, Any]:
    """Totals for each horizon with a ``level`` prediction interval; ``{"assessed": False, ...}`` when
    there is too little history."""
    series, filled = fill_gaps(y)
    if len(series) < MIN_DAYS:
        return {"assessed": False, "reason": f"{len(series)} days of history, need {MIN_DAYS}"}
    fit = _model(series)
    h = max(horizons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sims = fit.simulate(nsimulations=h, repetitions=REPETITIONS, anchor="end", random_errors="bootstrap",
                            rng=np.random.default_rng(SEED))
    sims = np.asarray(sims, float).reshape(h, -1)
    raw_mean = np.asarray(fit.forecast(h), float)
    k = dof_factor(len(series), len(series) >= 3 * SEASON)
    sims = np.clip(raw_mean[:, None] + k * (sims - raw_mean[:, None]), 0.0, None)
    mean = np.clip(raw_mean, 0.0, None)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out: dict[str, Any] = {"assessed": True, "model": "ETS(A,N,A) weekly" if len(series) >= 3 * SEASON
                           else "ETS(A,N,N)", "history_days": len(series), "days_filled": filled, "level": level}
    for n in horizons:
        tot = sims[:n].sum(axis=0)
        out[f"next_{n}d"] = {"total": _r(mean[:n].sum()), "lower": _r(np.quantile(tot, lo_q)),
                             "upper": _r(np.quantile(tot, hi_q)), "per_day": _r(mean[:n].mean())}
    out["history_last_30d_total"] = _r(series[-30:].sum())
    return out


def holdout_misses(y: np.ndarray, holdout: int, level: float = 0.95) -> dict[str, Any] | None:
    """Fit on all but the last ``holdout`` days, forecast them, count actuals outside the interval.
    None when the training part is shorter than MIN_DAYS."""
    series, _ = fill_gaps(y)
    if len(series) < MIN_DAYS + holdout:
        return None
    train, test = series[:-holdout], series[-holdout:]
    mean, lo, hi = daily_interval(train, holdout, level)
    outside = (test < lo) | (test > hi)
    return {"days": int(holdout), "outside": int(outside.sum()), "below": int((test < lo).sum()),
            "above": int((test > hi).sum()), "actual_total": _r(test.sum()), "forecast_total": _r(mean.sum()),
            "level": level}
