"""Robust statistics for cross-verification: medians not means, so one odd day cannot move a baseline.

Everything here is a plain function of numpy arrays with no state, so rules built on it
are reproducible. NaN means "unknown" and is ignored by every function (never treated as 0).

* :func:`median`, :func:`mad` (scaled by 1.4826 so it estimates sigma for normal data),
  :func:`robust_z`;
* :func:`ratio_baseline`: the median ratio num/den and its robust spread;
* :func:`theil_sen`: a line y = a + b x fitted as the median of pairwise slopes, for
  energy against units (tolerates ~29 % outlying days);
* :func:`cusum`: one- or two-sided CUSUM on standardised residuals with reference ``k``
  and decision interval ``h`` (both in sigma units);
* :func:`binary_segmentation` (level shifts in a mean) and :func:`low_runs` (runs of
  near-zero activity) for stoppages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAD_SCALE = 1.4826


def _finite(x: np.ndarray | list[float]) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[np.isfinite(a)]


def median(x: np.ndarray | list[float]) -> float:
    """Median of the finite values; NaN when there are none."""
    a = _finite(x)
    return float(np.median(a)) if a.size else float("nan")


def mad(x: np.ndarray | list[float], center: float | None = None) -> float:
    """Median absolute deviation x 1.4826 (a sigma estimate for normal data); NaN when empty."""
    a = _finite(x)
    if not a.size:
        return float("nan")
    c = float(np.median(a)) if center is None else center
    return float(MAD_SCALE * np.median(np.abs(a - c)))


def robust_z(x: np.ndarray | list[float], center: float | None = None, scale: float | None = None,
             floor: float = 0.0) -> np.ndarray:
    """(x - median) / max(MAD, floor). ``floor`` keeps a near-constant baseline from turning
    harmless noise into huge z-scores; NaN stays NaN."""
    a = np.asarray(x, dtype=float)
    c = median(a) if center is None else center
    s = mad(a, c) if scale is None else scale
    s = max(s if np.isfinite(s) else 0.0, floor)
    if s <= 0:
        raise ValueError("robust_z needs a positive scale: give a floor for constant data")
    return (a - c) / s


@dataclass(frozen=True)
class RatioBaseline:
    """The typical ratio num/den over the usable pairs and its robust spread."""

    ratio: float
    spread: float  # MAD of the ratios
    n: int


def ratio_baseline(num: np.ndarray, den: np.ndarray, min_den: float = 0.0) -> RatioBaseline:
    """Median of num/den over pairs with both finite and den > min_den."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    ok = np.isfinite(num) & np.isfinite(den) & (den > min_den)
    r = num[ok] / den[ok]
    return RatioBaseline(median(r), mad(r), int(ok.sum()))


@dataclass(frozen=True)
class Line:
    """y = intercept + slope x, and the robust spread of the residuals."""

    intercept: float
    slope: float
    resid_mad: float
    n: int

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(x, dtype=float)


def theil_sen(x: np.ndarray, y: np.ndarray) -> Line:
    """Theil–Sen fit: slope = median of pairwise slopes, intercept = median(y - slope x).

    O(n^2) pairs, fine for daily series (90 days -> 4005 pairs). Needs two distinct x.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2:
        raise ValueError("theil_sen needs at least two points")
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    if not keep.any():
        raise ValueError("theil_sen needs at least two distinct x values")
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep]))
    intercept = float(np.median(y - slope * x))
    return Line(intercept, slope, mad(y - intercept - slope * x, 0.0), int(x.size))


@dataclass(frozen=True)
class CusumResult:
    """Running sums (upper: shifts up, lower: shifts down, both >= 0) and the first alarm.

    ``alarm`` is the index where a sum first exceeded ``h`` (None if never); ``side`` says
    which; ``onset`` is the last index before the alarm where that sum was 0 (+1), the
    usual estimate of when the shift began.
    """

    upper: np.ndarray
    lower: np.ndarray
    alarm: int | None
    side: str | None
    onset: int | None


def cusum(z: np.ndarray, k: float = 0.5, h: float = 5.0, two_sided: bool = True) -> CusumResult:
    """Page's CUSUM on standardised residuals: S+_t = max(0, S+_{t-1} + z_t - k),
    S-_t = max(0, S-_{t-1} - z_t - k); alarm when a sum exceeds h. NaN steps leave the sums unchanged.

    For a shift of d sigma (d > k) the expected delay is about (h + 1.166) / (d - k) steps.
    """
    z = np.asarray(z, dtype=float)
    up = np.zeros(z.size)
    lo = np.zeros(z.size)
    su = sl = 0.0
    alarm: int | None = None
    side: str | None = None
    for t, v in enumerate(z):
        if np.isfinite(v):
            su = max(0.0, su + v - k)
            sl = max(0.0, sl - v - k) if two_sided else 0.0
        up[t], lo[t] = su, sl
        if alarm is None and su > h:
            alarm, side = t, "up"
        elif alarm is None and sl > h:
            alarm, side = t, "down"
    onset = None
    if alarm is not None:
        s = up if side == "up" else lo
        zero = np.flatnonzero(s[: alarm + 1] == 0)
        onset = int(zero[-1]) + 1 if zero.size else 0
    return CusumResult(up, lo, alarm, side, onset)


def cusum_delay(rate_per_step: float, sigma: float, k: float = 0.5, h: float = 5.0, max_steps: int = 10_000) -> int:
    """Steps until a one-sided CUSUM alarms on a linear drift of ``rate_per_step`` (in the
    residual's units) starting at step 1, noise-free: the smallest n with
    sum_{i=1..n} max-clipped (rate*i/sigma - k) > h. Used to document detection delay."""
    s = 0.0
    for n in range(1, max_steps + 1):
        s = max(0.0, s + rate_per_step * n / sigma - k)
        if s > h:
            return n
    return max_steps


def binary_segmentation(x: np.ndarray, penalty: float | None = None, min_size: int = 3,
                        max_cps: int = 10) -> list[int]:
    """Changepoints in the mean of ``x`` (indices where a new segment starts), sorted.

    Greedy binary segmentation with a squared-error cost: a split is kept when it lowers
    the cost by more than ``penalty`` (default: 2 log(n) x a robust variance from the
    first differences, i.e. BIC-like). NaNs are dropped before fitting and the indices
    refer to the original array.
    """
    a = np.asarray(x, dtype=float)
    pos = np.flatnonzero(np.isfinite(a))
    y = a[pos]
    n = y.size
    if n < 2 * min_size:
        return []
    if penalty is None:
        sigma = mad(np.diff(y)) / np.sqrt(2)
        sigma = sigma if np.isfinite(sigma) and sigma > 0 else max(float(np.std(y)), 1e-12) * 0.1
        penalty = 2.0 * np.log(n) * sigma**2
    cs = np.concatenate(([0.0], np.cumsum(y)))
    cs2 = np.concatenate(([0.0], np.cumsum(y * y)))

    def cost(i: int, j: int) -> float:
        m = j - i
        s = cs[j] - cs[i]
        return float(cs2[j] - cs2[i] - s * s / m)

    cps: list[int] = []
    segments = [(0, n)]
    while segments and len(cps) < max_cps:
        best = None
        for i, j in segments:
            if j - i < 2 * min_size:
                continue
            whole = cost(i, j)
            for t in range(i + min_size, j - min_size + 1):
                gain = whole - cost(i, t) - cost(t, j)
                if best is None or gain > best[0]:
                    best = (gain, i, t, j)
        if best is None or best[0] <= penalty:
            break
        _, i, t, j = best
        cps.append(t)
        segments.remove((i, j))
        segments += [(i, t), (t, j)]
    return sorted(int(pos[c]) for c in cps)


def low_runs(x: np.ndarray, threshold: float, min_len: int = 1, nan_breaks: bool = False) -> list[tuple[int, int]]:
    """Runs [start, end) of consecutive values <= threshold, at least ``min_len`` long.

    By default NaN neither starts nor ends a run but is counted inside one; with
    ``nan_breaks`` an unknown value ends the run (unobserved is not low)."""
    a = np.asarray(x, dtype=float)
    runs: list[tuple[int, int]] = []
    start: int | None = None
    last_low = -1
    for i, v in enumerate(a):
        if np.isfinite(v) and v <= threshold:
            if start is None:
                start = i
            last_low = i
        elif np.isfinite(v) or nan_breaks:
            if start is not None and last_low + 1 - start >= min_len:
                runs.append((start, last_low + 1))
            start = None
    if start is not None and last_low + 1 - start >= min_len:
        runs.append((start, last_low + 1))
    return runs


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sums over each run of ``window`` consecutive values (NaN counted as 0); length n - window + 1."""
    a = np.where(np.isfinite(np.asarray(x, dtype=float)), x, 0.0)
    if window <= 0 or a.size < window:
        return np.zeros(0)
    c = np.concatenate(([0.0], np.cumsum(a)))
    return c[window:] - c[:-window]
