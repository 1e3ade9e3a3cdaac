"""What leaves is generalised: amounts bucketed, price indices rounded, small counts suppressed.

Applied to the wire records on the way out (the batcher's RecordPolicy), not in the
store: the enterprise's own staff keep exact figures on the status page, while the bank
sees ranges (GB/T 37964 generalisation: 区间处理, small-cell suppression). The buckets
are declared in the profile's ``[privacy]`` section, so an enterprise can see exactly
how coarse its figures are before it authorises them.
"""

from __future__ import annotations

import bisect
import fnmatch
import math
from typing import Annotated, Any

import msgspec

from gateway.i18n import N_
from gateway.profile.load import ProfileError, _split_msgspec_error, msgspec_words

DEFAULT_AMOUNT_BUCKETS = [0.0, 10_000.0, 50_000.0, 100_000.0, 500_000.0, 1_000_000.0, 5_000_000.0, 20_000_000.0]


class PrivacyCfg(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    # Token key file in the state directory (0600, generated on first use).
    key_file: str = "privacy.key"
    # Amount ranges: a value v becomes the range [b_i, b_{i+1}) that holds it.
    amount_buckets: Annotated[list[float], msgspec.Meta(min_length=2)] = msgspec.field(
        default_factory=lambda: list(DEFAULT_AMOUNT_BUCKETS))
    # Units that are amounts of money: every indicator in such a unit is bucketed.
    amount_units: list[str] = msgspec.field(default_factory=lambda: ["CNY", "USD", "EUR"])
    # Price indices (unit 'index', 100 = base period) are floored to this step.
    index_step: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # Counts below this (but above zero) are suppressed for the indicators matched by
    # ``suppress``: one order from one customer in a day identifies that deal.
    min_count: Annotated[int, msgspec.Meta(ge=0)] = 3
    suppress: list[str] = msgspec.field(default_factory=lambda: ["erp.*", "mes.*"])


def load_privacy(section: dict[str, Any], file: str = "(profile)") -> PrivacyCfg:
    try:
        cfg = msgspec.convert(section, PrivacyCfg, strict=False)
    except msgspec.ValidationError as exc:
        key, msg = _split_msgspec_error(exc)
        raise ProfileError(file, f"privacy.{key}", msgspec_words(msg)) from exc
    b = cfg.amount_buckets
    if any(y <= x for x, y in zip(b, b[1:], strict=False)):
        raise ProfileError(file, "privacy.amount_buckets", N_("strictly increasing bounds (found {b})"), b=b)
    return cfg


def bucket(value: float, bounds: list[float]) -> tuple[float, float | None]:
    """(lower, upper) of the bucket holding value; upper None above the last bound (top coding),
    and values below the first bound are bottom-coded to the first bucket."""
    i = bisect.bisect_right(bounds, value) - 1
    if i < 0:
        return bounds[0], bounds[1]
    return bounds[i], (bounds[i + 1] if i + 1 < len(bounds) else None)


class Generaliser:
    def __init__(self, cfg: PrivacyCfg) -> None:
        self.cfg = cfg

    def _matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.cfg.suppress)

    def apply(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Return the record as it may leave (a new dict; the input is not modified)."""
        value = rec.get("value")
        if rec.get("type") != "indicator" or value is None or not isinstance(value, int | float):
            return rec
        out = dict(rec)
        q = list(rec.get("q", []))
        detail = dict(rec.get("detail") or {})
        unit = rec.get("unit", "")
        if unit in self.cfg.amount_units:
            lo, hi = bucket(float(value), self.cfg.amount_buckets)
            out["value"] = lo
            detail["range"] = [lo, hi]
            q.append("bucketed")
        elif unit == "index":
            step = self.cfg.index_step
            lo = math.floor(float(value) / step) * step
            out["value"] = round(lo, 6)
            detail["range"] = [round(lo, 6), round(lo + step, 6)]
            q.append("bucketed")
        elif unit == "count" and self._matches(rec.get("name", "")) and 0 < float(value) < self.cfg.min_count:
            out["value"] = None
            detail = {k: v for k, v in detail.items() if not isinstance(v, int | float)}
            q.append("suppressed_small_count")
        out["q"] = q
        if detail:
            out["detail"] = detail
        return out
