"""Backtest of the repayment forecasts (cloud_stub/repayment/forecast.py) on generated histories, and
their cost for a portfolio.

Each generated enterprise has a daily output series: a level drawn per enterprise, a five-day
working week (weekends near zero), day-to-day noise of 5-25 %, for some a slow trend, for some a
public-holiday week, and a few missing days (unknown, not zero). The forecaster is fitted on the
first ``--train`` days and judged on the next 30:

* MAPE of the 30-day total (|forecast - actual| / actual), median and 90th percentile;
* coverage of the 90 % interval of the 30-day total (share of enterprises whose actual total falls
  inside; 0.9 is calibrated), with the calibration repayment-v2 uses (``--calibration``, default
  centred-bootstrap-v1) and, for comparison, the same forecast uncalibrated (as repayment-v1 states it);
* coverage of the 95 % daily intervals of the holdout-miss rule (share of days inside; 0.95 is
  calibrated).

Timing: one ``forecast`` call (30- and 90-day totals) per enterprise and series, in one process,
statsmodels imported before the clock starts. ``--enterprises`` bounds the sample (default 60); the
time for 1,000 enterprises x 2 series (production and sales) is extrapolated linearly and says so.

    PYTHONPATH=$PWD .venv/bin/python bench/forecast_backtest.py --enterprises 60 --write-docs
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud_stub.repayment import forecast  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "forecast_backtest.json"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- forecast-table:begin (bench/forecast_backtest.py --write-docs) -->", "<!-- forecast-table:end -->"
HOLDOUT = 30


def history(rng: np.random.Generator, days: int) -> np.ndarray:
    level = rng.uniform(200, 5000)
    noise = rng.uniform(0.05, 0.25)
    trend = rng.choice([0.0, 0.0, rng.uniform(-0.004, 0.004)])
    t = np.arange(days)
    work = (t % 7) < 5
    y = level * (1 + trend * t) * np.where(work, 1.0, 0.03) * (1 + noise * rng.standard_normal(days))
    if rng.random() < 0.2:  # a holiday week somewhere in the training part
        h = int(rng.integers(7, max(8, days - HOLDOUT - 7)))
        y[h:h + 7] = level * 0.03
    y = np.clip(y, 0.0, None)
    miss = rng.random(days) < 0.02
    miss[-HOLDOUT:] = False
    y[miss] = np.nan
    return y


def run(n: int, train: int, seed: int, calibration: str | None = "centred-bootstrap-v1") -> dict[str, Any]:
    import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401 - import outside the timed part

    rng = np.random.default_rng(seed)
    apes, inside_total, daily_in, daily_n, times = [], 0, 0, 0, []
    inside_raw, widths, widths_raw = 0, [], []
    for _ in range(n):
        y = history(rng, train + HOLDOUT)
        fit_part, actual = y[:train], y[train:]
        t0 = time.perf_counter()
        fc = forecast.forecast(fit_part, (30, 90), 0.9, calibration)
        times.append(time.perf_counter() - t0)
        tot = float(np.nansum(actual))
        f30 = fc["next_30d"]
        apes.append(abs(f30["total"] - tot) / tot if tot > 0 else 0.0)
        inside_total += int(f30["lower"] <= tot <= f30["upper"])
        widths.append((f30["upper"] - f30["lower"]) / f30["total"] if f30["total"] else 0.0)
        if calibration is not None:  # the same forecast uncalibrated: what the calibration changed
            raw = forecast.forecast(fit_part, (30,), 0.9, None)["next_30d"]
            inside_raw += int(raw["lower"] <= tot <= raw["upper"])
            widths_raw.append((raw["upper"] - raw["lower"]) / raw["total"] if raw["total"] else 0.0)
        miss = forecast.holdout_misses(y, HOLDOUT, 0.95)
        if miss is not None:
            daily_in += miss["days"] - miss["outside"]
            daily_n += miss["days"]
    per = statistics.mean(times)
    return {
        "enterprises": n, "train_days": train, "holdout_days": HOLDOUT, "seed": seed, "calibration": calibration,
        "mape_30d_total": {"median": round(statistics.median(apes), 4),
                           "p90": round(float(np.quantile(apes, 0.9)), 4)},
        "coverage_90pct_total": round(inside_total / n, 4),
        "coverage_90pct_total_uncalibrated": round(inside_raw / n, 4) if calibration is not None else None,
        "interval_width_30d_median": round(statistics.median(widths), 4),
        "interval_width_30d_median_uncalibrated": round(statistics.median(widths_raw), 4) if widths_raw else None,
        "coverage_95pct_daily": round(daily_in / daily_n, 4) if daily_n else None,
        "seconds_per_forecast": {"mean": round(per, 4), "p90": round(float(np.quantile(times, 0.9)), 4)},
        "extrapolated_1000_enterprises_2_series_s": round(per * 2 * 1000, 1),
        "extrapolated": n < 1000,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }


def table(r: dict[str, Any]) -> str:
    sample = "a sample of" if r["extrapolated"] else ""
    return "\n".join([
        "| measure | value |", "|---|---|",
        f"| generated enterprises ({r['train_days']} days fitted, next {r['holdout_days']} judged) "
        f"| {r['enterprises']} |",
        f"| MAPE of the 30-day total, median / p90 | {r['mape_30d_total']['median']:.1%} / "
        f"{r['mape_30d_total']['p90']:.1%} |",
        f"| 90 % interval of the 30-day total: actual inside ({r.get('calibration') or 'uncalibrated'}) "
        f"| {r['coverage_90pct_total']:.1%} |",
        *([f"| the same interval uncalibrated (as repayment-v1 reports state it) "
           f"| {r['coverage_90pct_total_uncalibrated']:.1%} |",
           f"| interval width / forecast total, median: calibrated / uncalibrated "
           f"| {r['interval_width_30d_median']:.1%} / {r['interval_width_30d_median_uncalibrated']:.1%} |"]
          if r.get("coverage_90pct_total_uncalibrated") is not None else []),
        f"| 95 % daily intervals (forecast-miss rule): days inside | {r['coverage_95pct_daily']:.1%} |",
        f"| one forecast (30 + 90 days), mean / p90 | {r['seconds_per_forecast']['mean'] * 1000:.0f} ms / "
        f"{r['seconds_per_forecast']['p90'] * 1000:.0f} ms |",
        f"| 1,000 enterprises x 2 series | {r['extrapolated_1000_enterprises_2_series_s']:.0f} s"
        + (f" (extrapolated from {sample} {r['enterprises']}, one process)" if r["extrapolated"] else "") + " |",
    ])


def write_docs(r: dict[str, Any]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOCS}: no {BEGIN} ... {END} markers to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{table(r)}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--enterprises", type=int, default=60, help="sample size (1000 for the full run)")
    ap.add_argument("--train", type=int, default=56, help="days of history fitted")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--calibration", default="centred-bootstrap-v1", choices=["centred-bootstrap-v1", "none"],
                    help="interval calibration of the forecasts judged (none: as repayment-v1 states them)")
    ap.add_argument("--json-out", type=Path, default=RESULTS)
    ap.add_argument("--write-docs", action="store_true", help="replace the table in docs/benchmarks.md")
    args = ap.parse_args()
    if not 1 <= args.enterprises <= 1000:
        raise SystemExit("--enterprises: expected 1 to 1000")
    result = run(args.enterprises, args.train, args.seed, None if args.calibration == "none" else args.calibration)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    print(table(result))
    if args.write_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
