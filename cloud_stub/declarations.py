"""Declared events as the rules read them: planned downtime, maintenance, stocktakes, holidays.

The gateway signs each declaration (and each withdrawal) as a ``declaration`` record
(docs/wire-format.md, "Declaration records"). :func:`load_declarations` reads them for one
enterprise within an analysis' record-id bound, live and replayed alike, applies
withdrawals (a withdrawal counts only from the gateway that made the declaration: a replay
identity cannot withdraw the live gateway's), and keeps those that overlap the period.
Withdrawn declarations are kept (with ``withdrawn_at``) for the ``declarations`` rule; they
no longer excuse anything.

:class:`Declarations` answers the one question other rules ask: "is this window declared
for this asset, and as what?" A window is declared when one active declaration of the
asked kinds covers at least half of it; site-wide questions (``asset=None``) are answered
only by site-wide declarations (maintenance of one press does not excuse a whole-site
stoppage), an asset's by site-wide ones or ones naming it.

Records that do not parse as a declaration are skipped (they are still in the chain and
the feed); the kinds are the gateway's (gateway/declarations/model.py; a test keeps them equal).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np

KINDS = ("planned_downtime", "maintenance", "stocktake", "holiday")
# The kinds under which machines are expected to stand still.
DOWNTIME = ("planned_downtime", "maintenance", "holiday")
# The kinds under which the whole site claims no output (maintenance of some assets does not).
NO_OUTPUT = ("planned_downtime", "holiday")


@dataclass(frozen=True)
class Declared:
    """One declaration as signed; ``key`` is ``<gateway>/<id>`` (ids are per gateway)."""

    key: str
    gateway_id: str
    kind: str
    start: int
    end: int
    assets: tuple[str, ...]  # empty: the whole site
    declared_at: int
    record_id: int
    replayed: bool
    withdrawn_at: int | None = None

    @property
    def late(self) -> bool:
        """Made after its period had begun (when what it explains could already be seen)."""
        return self.declared_at > self.start

    def concerns(self, asset: str | None) -> bool:
        return not self.assets or (asset is not None and asset in self.assets)

    def as_json(self) -> list[Any]:
        return [self.key, self.kind, self.start, self.end, list(self.assets), self.declared_at, self.record_id,
                self.replayed, self.withdrawn_at]


@dataclass(frozen=True)
class Declarations:
    """The declarations overlapping one analysis period, withdrawn ones included."""

    items: tuple[Declared, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def active(self, kinds: Iterable[str] | None = None) -> list[Declared]:
        ks = None if kinds is None else set(kinds)
        return [d for d in self.items if d.withdrawn_at is None and (ks is None or d.kind in ks)]

    def covering(self, start: int, end: int, asset: str | None = None, kinds: Iterable[str] | None = None,
                 min_share: float = 0.5) -> Declared | None:
        """The active declaration of ``kinds`` concerning ``asset`` that covers at least
        ``min_share`` of ``[start, end)`` (the one covering most), or None."""
        best, best_cover = None, 0
        for d in self.active(kinds):
            if not d.concerns(asset):
                continue
            cover = min(end, d.end) - max(start, d.start)
            if cover > best_cover:
                best, best_cover = d, cover
        if best is None or best_cover < min_share * max(1, end - start):
            return None
        return best

    def per_window(self, starts: Sequence[int] | np.ndarray, lengths: Sequence[int] | np.ndarray | int,
                   asset: str | None = None, kinds: Iterable[str] | None = None) -> list[Declared | None]:
        """:meth:`covering` for each window (e.g. ``ev.day_windows()``): the declaration or None."""
        ks = tuple(kinds) if kinds is not None else None
        lens = np.broadcast_to(np.asarray(lengths, dtype=np.int64), (len(starts),))
        if not self.active(ks):
            return [None] * len(starts)
        return [self.covering(int(s), int(s) + int(n), asset, ks) for s, n in zip(starts, lens, strict=True)]

    def mask(self, starts: Sequence[int] | np.ndarray, lengths: Sequence[int] | np.ndarray | int,
             asset: str | None = None, kinds: Iterable[str] | None = None) -> np.ndarray:
        """Boolean per window: declared (see :meth:`per_window`)."""
        return np.array([d is not None for d in self.per_window(starts, lengths, asset, kinds)], dtype=bool)

    def canonical(self) -> list[list[Any]]:
        return [d.as_json() for d in self.items]


def _epoch(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(dt.timestamp()) if dt.tzinfo is not None else None


def parse_record(rec: dict[str, Any], gateway_id: str, record_id: int, replayed: bool) -> Declared | None:
    """A ``declaration.declare`` record as a Declared, or None if it is not a well-formed one."""
    window, kind, assets = rec.get("window"), rec.get("kind"), rec.get("assets", [])
    at, did = _epoch(rec.get("declared_at")), rec.get("id")
    if rec.get("name") != "declaration.declare" or kind not in KINDS or not isinstance(window, dict) \
            or not isinstance(did, int) or at is None or not isinstance(assets, list) \
            or not all(isinstance(a, str) for a in assets):
        return None
    start, length = window.get("start"), window.get("len")
    if not isinstance(start, int) or not isinstance(length, int) or length <= 0:
        return None
    return Declared(f"{gateway_id}/{did}", gateway_id, kind, start, start + length, tuple(sorted(assets)), at,
                    int(record_id), bool(replayed))


def load_declarations(conn: Any, enterprise_id: str, period_start: int, period_end: int,
                      max_record_id: int) -> Declarations:
    """Every declaration record of the enterprise up to ``max_record_id`` (from the receiver's
    record column; the analysis reads them from the signed bodies instead, :func:`from_records`)."""
    rows = []
    for rid, gw, replayed, text in conn.execute(
        "SELECT id, gateway_id, replayed, record FROM records WHERE enterprise_id = ? AND id <= ?"
        " AND type = 'declaration' ORDER BY id", (enterprise_id, max_record_id),
    ):
        try:
            rows.append((int(rid), gw, bool(replayed), json.loads(text)))
        except ValueError:
            continue
    return from_records(rows, period_start, period_end)


def from_records(rows: Iterable[tuple[int, str, bool, Any]], period_start: int, period_end: int) -> Declarations:
    """The declarations among ``(record id, gateway, replayed, record)`` rows that overlap the
    period, withdrawals applied; the first record of a key wins (a resend is the same record)."""
    found: dict[str, Declared] = {}
    withdrawals: dict[str, int] = {}
    for rid, gw, replayed, rec in sorted(rows, key=lambda r: r[0]):
        if not isinstance(rec, dict):
            continue
        if rec.get("name") == "declaration.withdraw":
            target, at = rec.get("withdraws"), _epoch(rec.get("declared_at"))
            if isinstance(target, int) and at is not None:
                withdrawals.setdefault(f"{gw}/{target}", at)
            continue
        d = parse_record(rec, gw, rid, replayed)
        if d is not None and d.key not in found and d.end > period_start and d.start < period_end:
            found[d.key] = d
    items = [replace(d, withdrawn_at=withdrawals[d.key]) if d.key in withdrawals else d for d in found.values()]
    return Declarations(tuple(sorted(items, key=lambda d: (d.start, d.key))))
