"""Rule inputs: what one analysis of one enterprise reads (records, chain findings, batch metadata), hashed.

Named rule inputs, not evidence: "evidence" is the signed bundle a dispute exports.

Rules never touch the database. ``load_rule_inputs`` reads, for one enterprise and one period,
the indicator records accepted up to a record id, the chain findings raised up to a
finding id and the metadata of the batches that carried those records; both bounds are
stored with a score, so recomputing it later reads exactly the same inputs even though
the tables kept growing. ``RuleInputs.digest`` hashes those inputs as canonical JSON.

Selection rules, in order:

* only ``type = 'indicator'`` records whose window lies inside ``[period_start, period_end)``;
* one record per (name, subject, window start, window length): a live record beats a
  replayed one (history replayed at onboarding is weaker evidence than what the gateway
  sent as it happened), and among equals the latest record id wins (an MES/ERP figure
  corrected by a later export is re-sent as a revision with a higher id);
* ``detail`` is kept only for the indicators whose detail a rule reads (:data:`DETAIL_NAMES`).

Where values come from: the signed batch bodies, never the derived columns of ``records``
(``cloud_stub/signed_inputs.py``: each body decoded once, a record is ``body.records[index]``
of its locator; loader versions there).

Alignment: device indicators are epoch-aligned (15 min, 1 h) while MES/ERP figures are per
local day with an arbitrary epoch start and 23/24/25 h length. :meth:`RuleInputs.daily`
sums a device indicator over each day window using one window length per series (the
longest that tiles the days), and reports what share of each day the sum actually saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloud_stub.declarations import Declarations

CHAIN_KINDS = ("equivocation", "gap_declared", "gap_observed", "gap_filled", "stale_seq", "rejected_batch",
               "meter_identity_changed", "meter_serial_duplicate")
# Indicators whose record JSON is parsed for ``detail`` (everything else is read from
# columns): cycles for their cavities; unexplained changes for the kg and transient loads for
# their largest excursion (both only when non-zero).
DETAIL_NAMES = ("machine.cycles", "collateral.unexplained_changes", "collateral.transient_loads")
DETAIL_ONLY_NONZERO = ("collateral.unexplained_changes", "collateral.transient_loads")
# Counting-camera indicators whose subjects may declare what they count (detail.role, from
# the profile's params.role): read from each subject's newest record only, as it is static.
ROLE_NAMES = ("vision.units_out", "vision.units_in")
ROLES = ("line", "dispatch")
# A local day is 23, 24 or 25 hours; anything in this range is treated as a day window.
DAY_MIN_S, DAY_MAX_S = 20 * 3600, 28 * 3600
ENTERPRISE_CATEGORIES = ("mes", "erp")

_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _canon(obj: Any) -> bytes:
    return _encoder.encode(obj).encode("utf-8")

@dataclass(frozen=True)
class Series:
    """One indicator for one subject at one window length, oldest window first.

    ``value`` is NaN where the record had no numeric value (suppressed small count,
    generalised range) or is flagged ``no_data`` (unknown, not zero: a window not observed is
    null since indicator def 2; older gateways sent 0 with that flag). ``quality`` holds each record's flag list
    as stored (JSON text), so the digest still covers what was stored.
    """

    name: str
    subject: str
    length: int
    start: np.ndarray  # int64 window starts
    value: np.ndarray  # float64
    ids: np.ndarray  # int64 record ids
    replayed: np.ndarray  # bool
    quality: tuple[str | None, ...]
    category: str | None = None

    def __len__(self) -> int:
        return len(self.start)

    def flagged(self, flag: str) -> np.ndarray:
        """Boolean mask: records carrying quality flag ``flag``."""
        needle = f'"{flag}"'
        return np.fromiter((q is not None and needle in q for q in self.quality), bool, len(self.quality))


@dataclass(frozen=True)
class ChainFinding:
    id: int
    kind: str
    gateway_id: str | None
    detail: dict[str, Any]
    created: str


@dataclass(frozen=True)
class BatchMeta:
    gateway_id: str
    seq: int
    created: str | None
    received: str | None  # loader 1 only (the receiver's clock); None since loader 2
    replayed: bool
    clock: dict[str, Any] | None


@dataclass(frozen=True)
class Daily:
    """A device indicator summed over each day window, across the chosen subjects.

    ``coverage`` is the share of the day (0..1) for which records with a value existed,
    averaged over the subjects; ``subjects`` lists who contributed.
    """

    value: np.ndarray
    coverage: np.ndarray
    subjects: tuple[str, ...]
    length: int


@dataclass
class RuleInputs:
    """Everything one analysis reads; rules get it and nothing else."""

    enterprise_id: str
    period_start: int
    period_end: int
    max_record_id: int
    max_finding_id: int
    series_by_name: dict[str, dict[tuple[str, int], Series]] = field(default_factory=dict)
    details: dict[int, dict[str, Any]] = field(default_factory=dict)
    # subject -> "line" | "dispatch" where the gateway's profile declared what a camera counts
    roles: dict[str, str] = field(default_factory=dict)
    chain_findings: list[ChainFinding] = field(default_factory=list)
    batches: list[BatchMeta] = field(default_factory=list)
    # Declared events (cloud_stub/declarations.py): what the enterprise said to expect.
    declarations: Declarations = field(default_factory=Declarations)
    # Which loader built these inputs (see cloud_stub/signed_inputs.py): 1 for scores made before
    # values were read from signed bodies (their digest covers ``received``), 2 since.
    loader: int = 1
    # The categories of the bank view these inputs were restricted to (None: every record).
    categories: list[str] | None = None
    # sha256 over the [record id, batch hash, index] locators of the records the rules read.
    locators_sha256: str | None = None
    _digest: str | None = None
    _days: tuple[np.ndarray, np.ndarray] | None = None

    # -- lookup ------------------------------------------------------------------------------
    @property
    def record_count(self) -> int:
        return sum(len(s) for by in self.series_by_name.values() for s in by.values())

    def names(self) -> list[str]:
        return sorted(self.series_by_name)

    def subjects(self, name: str) -> list[str]:
        return sorted({subj for subj, _ in self.series_by_name.get(name, {})})

    def lengths(self, name: str, subject: str) -> list[int]:
        return sorted(n for s, n in self.series_by_name.get(name, {}) if s == subject)

    def series(self, name: str, subject: str, length: int | None = None) -> Series | None:
        """The series of one subject; without ``length`` the one that best tiles the day windows."""
        by = self.series_by_name.get(name, {})
        if length is None:
            lens = self.lengths(name, subject)
            if not lens:
                return None
            length = pick_length(lens, self.day_windows()[0])
        return by.get((subject, length))

    def detail(self, record_id: int) -> dict[str, Any]:
        """The ``detail`` of a record whose name is in :data:`DETAIL_NAMES` ({} otherwise, and for
        unexplained-change records with value 0)."""
        return self.details.get(int(record_id), {})

    # -- business days -----------------------------------------------------------------------
    def day_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, lengths) of the enterprise's local days, from its MES/ERP day records;
        without any, consecutive 24 h windows from the period's start."""
        if self._days is not None:
            return self._days
        seen: set[tuple[int, int]] = set()
        for name, by in self.series_by_name.items():
            if name.split(".", 1)[0] not in ENTERPRISE_CATEGORIES:
                continue
            for (_, n), s in by.items():
                if DAY_MIN_S <= n <= DAY_MAX_S:
                    seen.update((int(t), n) for t in s.start)
        days = sorted(seen)
        if not days:
            # No MES/ERP day figures (a warehouse-only pledge, say): 24 h windows from the
            # period's start, so device-only rules (storage, stoppages) still have a grid.
            first = self.period_start
            days = [(t, 86400) for t in range(first, self.period_end - 86400 + 1, 86400)]
        out = (np.array([d[0] for d in days], dtype=np.int64), np.array([d[1] for d in days], dtype=np.int64))
        self._days = out
        return out

    def enterprise_daily(self, name: str, subjects: Callable[[str], bool] | None = None) -> np.ndarray:
        """An MES/ERP day indicator aligned to :meth:`day_windows`, summed over subjects.

        NaN where no selected subject has a numeric value that day (no record, or a
        suppressed count): unknown is not zero.
        """
        starts, _ = self.day_windows()
        out = np.full(len(starts), np.nan)
        for (subj, n), s in self.series_by_name.get(name, {}).items():
            if not DAY_MIN_S <= n <= DAY_MAX_S or (subjects is not None and not subjects(subj)):
                continue
            idx = np.searchsorted(starts, s.start)
            ok = (idx < len(starts)) & np.isfinite(s.value)
            idx, vals = idx[ok], s.value[ok]
            hit = starts[idx] == s.start[ok]
            idx, vals = idx[hit], vals[hit]
            cur = out[idx]
            out[idx] = np.where(np.isnan(cur), vals, cur + vals)
            # np.add.at would be needed for repeated idx; a subject has one record per day.
        return out

    def daily(self, name: str, subjects: Callable[[str], bool] | Iterable[str] | None = None,
              windows: tuple[np.ndarray, np.ndarray] | None = None) -> Daily | None:
        """Sum of a device indicator over each day window, across the selected subjects.

        Each subject contributes its records of one window length (the longest that tiles
        the days, so 15 min and 1 h copies are never both counted); records are attributed
        to the day window containing their start. None when no subject has the indicator.
        """
        starts, lens = self.day_windows() if windows is None else windows
        chosen = self._select(name, subjects)
        if not chosen or len(starts) == 0:
            return None
        total = np.zeros(len(starts))
        cover = np.zeros(len(starts))
        ends = starts + lens
        for subj in chosen:
            s = self.series(name, subj)
            if s is None:
                continue
            v = np.where(np.isfinite(s.value), s.value, 0.0)
            seen = np.isfinite(s.value).astype(float) * s.length
            cv = np.concatenate(([0.0], np.cumsum(v)))
            cs = np.concatenate(([0.0], np.cumsum(seen)))
            lo = np.searchsorted(s.start, starts, side="left")
            hi = np.searchsorted(s.start, ends - s.length, side="right")
            hi = np.maximum(hi, lo)
            total += cv[hi] - cv[lo]
            cover += (cs[hi] - cs[lo]) / lens
        return Daily(total, np.clip(cover / len(chosen), 0.0, 1.0), tuple(chosen),
                     max(self.lengths(name, chosen[0]) or [0]))

    def _select(self, name: str, subjects: Callable[[str], bool] | Iterable[str] | None) -> list[str]:
        have = self.subjects(name)
        if subjects is None:
            return have
        if callable(subjects):
            return [s for s in have if subjects(s)]
        want = set(subjects)
        return [s for s in have if s in want]

    # -- hashing -----------------------------------------------------------------------------
    def canonical_inputs(self) -> Iterable[bytes]:
        """The inputs as canonical JSON, in chunks (their concatenation is one JSON document)."""
        head: dict[str, Any] = {"enterprise_id": self.enterprise_id, "period": [self.period_start, self.period_end],
                                "max_record_id": self.max_record_id, "max_finding_id": self.max_finding_id}
        if self.loader >= 2:
            head.update(loader=self.loader, categories=self.categories)
        yield b'{"head":' + _canon(head) + b',"records":['
        first = True
        for name in sorted(self.series_by_name):
            by = self.series_by_name[name]
            for key in sorted(by):
                s = by[key]
                # Columnar: one list per field, in window order (cheaper to encode than rows).
                item = {"name": name, "subject": key[0], "len": key[1], "id": s.ids.tolist(),
                        "start": s.start.tolist(), "value": [None if v != v else v for v in s.value.tolist()],
                        "quality": list(s.quality), "replayed": s.replayed.tolist()}
                det = {str(i): self.details[i] for i in s.ids.tolist() if i in self.details}
                if det:
                    item["detail"] = det
                yield (b"" if first else b",") + _canon(item)
                first = False
        yield b'],"chain_findings":' + _canon([[f.id, f.kind, f.gateway_id, f.detail, f.created]
                                                for f in self.chain_findings])
        # Loader 1 also hashed when each batch arrived (the receiver's clock, not signed); 2 does not.
        yield b',"batches":' + _canon([[b.gateway_id, b.seq, b.created, b.received, b.replayed, b.clock]
                                        if self.loader < 2 else [b.gateway_id, b.seq, b.created, b.replayed, b.clock]
                                        for b in self.batches])
        # Declared camera roles decide which claim a count is compared with: an input too.
        yield (b',"roles":' + _canon(self.roles) if self.roles else b"")
        # Only when there are any, so the digest of inputs without declarations is unchanged.
        yield (b',"declarations":' + _canon(self.declarations.canonical()) if len(self.declarations) else b"") + b"}"

    def digest(self) -> str:
        """sha256 hex of the canonical JSON of exactly the inputs selected (deterministic order)."""
        if self._digest is None:
            h = hashlib.sha256()
            for chunk in self.canonical_inputs():
                h.update(chunk)
            self._digest = h.hexdigest()
        return self._digest


def pick_length(lengths: Sequence[int], day_starts: np.ndarray) -> int:
    """The longest window length (at most 1 h) that tiles the local days; else the shortest.

    A site at UTC+5:30 has days starting on the half hour, so its hourly windows straddle
    midnight and its 15-minute ones are used instead.
    """
    cands = sorted((n for n in lengths if n <= 3600), reverse=True) or sorted(lengths)
    for n in cands:
        if len(day_starts) == 0 or not np.any(day_starts % n):
            return n
    return min(lengths)


def load_rule_inputs(conn: Any, enterprise_id: str, period_start: int, period_end: int, max_record_id: int,
                     max_finding_id: int, *, loader: int | None = None,
                     categories: Iterable[str] | None = None) -> RuleInputs:
    """Read one enterprise's inputs for ``[period_start, period_end)`` within the id bounds.

    ``conn`` is a DB-API connection (SQLite or PostgreSQL) inside a read snapshot. Every value
    comes from the signed batch bodies (cloud_stub/signed_inputs.py), never from the derived
    columns of ``records``; ``loader`` is the version to reproduce (default: the current one),
    ``categories`` restricts to what a bank granted those categories is shown.
    """
    from cloud_stub import signed_inputs

    return signed_inputs.load_signed(conn, enterprise_id, period_start, period_end, max_record_id, max_finding_id,
                                     CHAIN_KINDS, loader=signed_inputs.LOADER if loader is None else loader,
                                     categories=categories)


def _build_series(ev: RuleInputs, rows: list[tuple[Any, ...]]) -> None:
    """Group sorted rows into Series, keeping one record per window (live first, then latest id)."""
    i, n = 0, len(rows)
    while i < n:
        name, subj, length = rows[i][0], rows[i][1], rows[i][2]
        j = i
        starts: list[int] = []
        keep: list[tuple[Any, ...]] = []
        while j < n and rows[j][0] == name and rows[j][1] == subj and rows[j][2] == length:
            r = rows[j]
            if starts and starts[-1] == r[3]:
                if _better(r, keep[-1]):
                    keep[-1] = r
            else:
                starts.append(r[3])
                keep.append(r)
            j += 1
        if subj is not None and length is not None:
            s = Series(
                name=name, subject=subj, length=int(length),
                start=np.fromiter((r[3] for r in keep), np.int64, len(keep)),
                value=np.fromiter((np.nan if r[6] is None or (r[7] is not None and _NO_DATA in r[7]) else r[6]
                                   for r in keep), np.float64, len(keep)),
                ids=np.fromiter((r[5] for r in keep), np.int64, len(keep)),
                replayed=np.fromiter((bool(r[4]) for r in keep), bool, len(keep)),
                quality=tuple(r[7] for r in keep), category=keep[0][8],
            )
            ev.series_by_name.setdefault(name, {})[(subj, int(length))] = s
        i = j


# Unknown, not zero: since indicator def 2 such windows are null; older gateways sent 0 with this flag.
_NO_DATA = '"no_data"'


def _better(new: tuple[Any, ...], old: tuple[Any, ...]) -> bool:
    """Live beats replayed; among the same kind the later record (a revision) wins."""
    if bool(new[4]) != bool(old[4]):
        return not new[4]
    return int(new[5]) > int(old[5])
