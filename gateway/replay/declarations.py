"""``DIR/declarations.csv``: the enterprise's declared events of a replayed history.

Replayed as signed declarations at their declared time (docs/replay.md, "Declarations"):
each row is added to the replay's store when the simulated clock reaches its
``declared_at`` and signed at the next packing step, exactly as ``edgeproof declare add``
made at that moment would have been; a row with ``withdrawn_at`` is withdrawn (a signed
withdrawal) when the clock reaches that time.

Columns (UTF-8, a BOM allowed, one header row; order free; unknown columns are an error)::

    kind         planned_downtime | maintenance | stocktake | holiday       (required)
    from, to     ISO 8601 with offset, or a date (the site's midnight); to > from (required)
    declared_at  when the enterprise declared it, same forms                 (required)
    assets       devices/assets it concerns, separated by ';' (empty: the whole site)
    note         free text (kept on site; only a keyed token is signed)
    withdrawn_at when it was withdrawn, after declared_at (empty: never)

``declared_at`` must not be after the history's last row: a declaration made later than the
history is made live with ``edgeproof declare add``.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

from gateway.declarations import ledger
from gateway.declarations.model import Declaration, DeclarationError, iso, parse, parse_time
from gateway.i18n import N_

FILE = "declarations.csv"
REQUIRED = ("kind", "from", "to", "declared_at")
OPTIONAL = ("assets", "note", "withdrawn_at")


@dataclass(frozen=True)
class ReplayDeclaration:
    line: int
    decl: Declaration
    declared_at: float
    withdrawn_at: float | None
    ext_id: str  # stable across runs of the same file: a resumed replay adds nothing twice


def read(path: Path, history_end: float | None = None, tz: tzinfo = UTC) -> list[ReplayDeclaration]:
    """Every row, validated; ReplayDataError (file, line, column) at the first bad one. Plain
    dates are midnight in ``tz`` (the site's time zone)."""
    from gateway.replay.data import ReplayDataError

    out: list[ReplayDeclaration] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in cols]
            if missing:
                raise ReplayDataError(path, 1, missing[0], N_("a column {missing} (columns: {value})"),
                                                           missing=repr(missing[0]),
                                                           value=", ".join(REQUIRED + OPTIONAL))
            unknown = [c for c in cols if c not in REQUIRED + OPTIONAL]
            if unknown:
                raise ReplayDataError(path, 1, unknown[0], N_("not a declarations column; columns are {value}"),
                                                           value=', '.join(REQUIRED + OPTIONAL))
            for row in reader:
                out.append(_row(path, reader.line_num, row, history_end, tz))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ReplayDataError(path, 0, None, N_("not a readable UTF-8 CSV ({error})"), error=exc) from exc
    return out


def _row(path: Path, line: int, row: dict[str, Any], history_end: float | None, tz: tzinfo) -> ReplayDeclaration:
    from gateway.replay.data import ReplayDataError

    if None in row:
        raise ReplayDataError(path, line, None, N_("more cells than header columns"))
    cell = {k: (v or "").strip() for k, v in row.items()}
    try:
        decl = parse(cell["kind"], cell["from"], cell["to"], cell.get("assets", "").replace(";", ","),
                     row.get("note") or "", tz)
        at = parse_time(cell["declared_at"], "declared_at", tz)
        withdrawn = parse_time(cell["withdrawn_at"], "withdrawn_at", tz) if cell.get("withdrawn_at") else None
    except DeclarationError as exc:
        raise ReplayDataError(path, line, exc.key, exc.message) from None
    if history_end is not None and at > history_end:
        raise ReplayDataError(path, line, "declared_at", N_("a time within the history (it ends {value}); declare "
                                                            "later events live with `edgeproof declare add`"),
                                                         value=iso(history_end))
    if withdrawn is not None and withdrawn <= at:
        raise ReplayDataError(path, line, "withdrawn_at", N_("a time after declared_at ({value})"), value=iso(at))
    digest = hashlib.sha256(repr(sorted(cell.items())).encode()).hexdigest()[:16]
    return ReplayDeclaration(line, decl, at, withdrawn, f"replay:{line}:{digest}")


class DeclarationFeed:
    """Adds each row to the replay's store when the simulated clock reaches its time."""

    def __init__(self, store: Any, items: list[ReplayDeclaration], tokeniser: Any = None) -> None:
        self.store = store
        self.items = sorted(items, key=lambda d: (d.declared_at, d.line))
        self.tokeniser = tokeniser  # a callable () -> Tokeniser, called only if a row has a note
        self.added = 0
        self.withdrawn = 0
        self._done: set[str] = set()

    def _token(self, note: str) -> str | None:
        return self.tokeniser().token("note", note) if note and self.tokeniser is not None else None

    def due(self, now: float) -> None:
        """Add what was declared (and withdraw what was withdrawn) at or before ``now``;
        a row already in the store (a resumed replay) is not added again."""
        for d in self.items:
            if d.declared_at > now:
                break
            if d.ext_id in self._done:
                continue
            did = ledger.add(self.store, d.decl, declared_at=d.declared_at, note_token=self._token(d.decl.note),
                             source="replay", ext_id=d.ext_id)
            if d.withdrawn_at is not None and d.withdrawn_at <= now:
                ledger.withdraw(self.store, did, at=d.withdrawn_at, source="replay", ext_id=d.ext_id + ":w")
            if d.withdrawn_at is None or d.withdrawn_at <= now:
                self._done.add(d.ext_id)
        self.added = sum(1 for d in self.items if d.declared_at <= now)
        self.withdrawn = sum(1 for d in self.items if d.withdrawn_at is not None and d.withdrawn_at <= now)
