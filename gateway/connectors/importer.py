"""Importing an export into the store: map, validate, tokenise, upsert; quarantine the rest.

* A row that does not parse is quarantined with its line and the reason (kept on site for
  the enterprise to fix); the other rows go through.
* Re-reading the same export changes nothing: a source whose content hash was imported
  before is skipped, and rows are keyed by their business key (order number, ...), so
  even a re-export with the same rows in another order is a no-op.
* A corrected export supersedes the earlier figures for the days it covers (snapshot
  mode): changed rows are updated, rows it no longer contains are removed, and every
  change is recorded in ``erp_changes`` with the old and new (tokenised) values. The days
  touched are returned so their indicators can be recomputed and re-sent as revisions.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from gateway.connectors.config import Column, ConnectorCfg, column_of, resolve_path, unit_factor
from gateway.connectors.datasets import DATASETS, FIELD_UNITS, Dataset
from gateway.connectors.expressions import evaluate
from gateway.connectors.products import ProductsCfg, master_hash, master_rows
from gateway.connectors.readers import Source, SourceError, SourceRow, norm_header, read_file, read_sql
from gateway.connectors.values import parse_datetime, parse_direction, parse_number
from gateway.i18n import N_
from gateway.privacy.tokens import Tokeniser
from gateway.store import erp as erp_store
from gateway.user_error import UserError

log = logging.getLogger("edgeproof.connectors")


@dataclass
class ImportReport:
    connector: str
    source: str
    status: str = "imported"  # imported | unchanged | failed
    rows_ok: int = 0
    quarantined: list[tuple[int, str]] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    days: set[str] = field(default_factory=set)
    error: str | None = None  # English (JSON, the store, logs)
    import_id: int | None = None
    # Every quarantined line (``quarantined`` lists at most QUARANTINE_IN_REPORT of them).
    quarantined_count: int | None = None
    # The error itself, for the CLI to show in the reader's language (gateway.i18n.render); not in as_dict.
    error_detail: object | None = field(default=None, repr=False, compare=False)
    # The dataset the rows went to: which indicators ``days`` concern ("" = any).
    dataset: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"connector": self.connector, "source": self.source, "status": self.status, "rows_ok": self.rows_ok,
                "quarantined": [{"line": ln, "reason": r} for ln, r in self.quarantined],
                "quarantined_count": self.quarantined_count, "added": self.added,
                "changed": self.changed, "removed": self.removed, "unchanged": self.unchanged,
                "days": sorted(self.days), "error": self.error}


@dataclass
class MappedRow:
    key: str
    day: str
    ts: float
    fields: dict[str, Any]
    line: int
    raw: str = ""  # the line as found, quarantined with it if the key turns out a duplicate

    @property
    def row_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def import_fingerprint(cfg: ConnectorCfg, src: Source) -> str:
    """The content and the mapping together: after the installer fixes a column mapping the
    same file is read again (harmless: rows are keyed), but an unchanged file is skipped."""
    return hashlib.sha256(src.content_hash.encode() + msgspec.json.encode(cfg)).hexdigest()


# Rows mapped and written per transaction: bounds memory (a chunk's rows) and how long the
# gateway's other writers wait for the store (one chunk's writes, a few tens of ms on a Pi).
CHUNK_ROWS = 2000
# Quarantined lines listed in an ImportReport (all of them are in erp_quarantine).
QUARANTINE_IN_REPORT = 1000
# The content_hash of an import still running (or that crashed): never matches a fingerprint.
INCOMPLETE = erp_store.INCOMPLETE


@dataclass
class _Run:
    """One import in progress: the current chunk and what the report needs at the end."""

    cfg: ConnectorCfg
    ds: Dataset
    src: Source
    fingerprint: str
    rep: ImportReport
    now: float
    iid: int = 0
    mapped: list[MappedRow] = field(default_factory=list)
    quarantine: list[tuple[int, str, str]] = field(default_factory=list)
    n_quarantined: int = 0
    lo: str | None = None
    hi: str | None = None
    incomplete: set[int] = field(default_factory=set)


class Importer:
    def __init__(self, store: Any, tokeniser: Tokeniser, timezone: str = "UTC") -> None:
        self.store = store
        self.tokeniser = tokeniser
        self.tz = ZoneInfo(timezone)
        # The import clock: `edgeproof replay` imports history under its simulated clock.
        self.clock: Callable[[], float] = time.time
        # (connector, path) -> (size, mtime_ns) of files already read: a large workbook is not
        # re-read and re-hashed at every scan when nothing changed.
        self._stat_seen: dict[tuple[str, str, str], tuple[int, int]] = {}
        # The product master (gateway/connectors/products.py): when one is declared, shipment
        # rows are checked against it; the runner sets both from the profile.
        self.products = ProductsCfg()
        self.master_declared = False

    def _master_for(self, ds: Dataset) -> dict[str, dict[str, Any]] | None:
        """The product master shipment rows are checked against (None: no check)."""
        if ds.name != "shipments" or not self.master_declared:
            return None
        return master_rows(self.store)

    # -- mapping ----------------------------------------------------------------------------
    def map_row(self, ds: Dataset, cfg: ConnectorCfg, row: SourceRow) -> MappedRow:
        if "__error__" in row.values:  # the reader found the row unusable (a cut-off file's last line)
            raise ValueError(str(row.values["__error__"]))
        if "__extra__" in row.values:
            raise ValueError("more cells than header columns (an unquoted delimiter in a value?)")
        out: dict[str, Any] = {}
        main_dt: datetime | None = None
        numbers: dict[str, float | None] = {}  # what expressions read: numeric columns and inputs, converted
        derived: list[tuple[str, Column]] = []
        for kind, table in (("inputs", cfg.inputs), ("columns", cfg.columns)):
            for fname, raw_spec in table.items():
                spec = column_of(raw_spec)
                if spec.expr is not None:
                    derived.append((fname, spec))
                    continue
                col = spec.column or ""
                typ = "num" if kind == "inputs" else ds.fields[fname]
                raw = row.values.get(norm_header(col))
                if isinstance(raw, str):
                    raw = raw.strip()
                    if raw == "":
                        raw = None
                try:
                    if raw is None:
                        value: Any = None
                    elif typ == "str":
                        value = str(raw).strip()
                        if isinstance(raw, float) and raw.is_integer():
                            value = str(int(raw))
                    elif typ == "num":
                        value = parse_number(raw)
                        if value is not None:
                            f = unit_factor(spec, FIELD_UNITS.get(fname) if kind == "columns" else None)
                            value = value if f == 1.0 else round(value * f, 9)
                        numbers[fname] = value
                    elif typ in ("date", "datetime"):
                        dt = parse_datetime(raw, self.tz)
                        if fname == ds.date_field:
                            main_dt = dt
                        value = None if dt is None else (dt.date().isoformat() if typ == "date" else dt.isoformat())
                    elif typ == "direction":
                        value = parse_direction(raw)
                    elif typ.startswith("token:"):
                        value = self.tokeniser.token(typ.split(":", 1)[1], str(raw))
                    else:  # pragma: no cover - datasets.py is the only source of types
                        raise ValueError(f"unknown field type {typ}")
                except ValueError as exc:
                    raise ValueError(f"{fname} ({col}): {exc}") from None
                if kind == "columns":
                    self._check_value(ds, fname, f"{fname} ({col})", value, raw)
                    if value is not None:
                        out[fname] = value
        for fname, spec in derived:
            value = evaluate(spec.expr or "", numbers)
            self._check_value(ds, fname, f"{fname} (= {spec.expr})", value, value)
            if value is not None:
                out[fname] = round(value, 9)
        if ds.name == "orders" and "amount" not in out and "qty" in out and "unit_price" in out:
            out["amount"] = round(out["qty"] * out["unit_price"], 6)
        if not ds.date_field:  # undated (the product master): one period that every import replaces
            main_dt = datetime(1970, 1, 1, tzinfo=self.tz)
        if main_dt is None:  # required, so only reachable for a mapping without the date field
            raise ValueError(f"{ds.date_field} is missing")
        if ds.key and out.get(ds.key[0]) is not None:
            key = "|".join(str(out.get(k, "")) for k in ds.key)
        else:
            key = "h:" + hashlib.sha256(json.dumps(out, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:24]
        return MappedRow(key, main_dt.date().isoformat(), main_dt.timestamp(), out, row.line, row.raw)

    @staticmethod
    def _check_value(ds: Dataset, fname: str, label: str, value: Any, raw: Any) -> None:
        if value is None and fname in ds.required:
            raise ValueError(f"{label} is empty")
        if fname in ds.non_negative and value is not None and value < 0:
            raise ValueError(f"{label} is negative: {raw!r}")

    # -- importing ---------------------------------------------------------------------------
    def seen(self, connector: str, content_hash: str) -> bool:
        return erp_store.import_seen(self.store, connector, content_hash)

    def import_source(self, cfg: ConnectorCfg, src: Source, force: bool = False) -> ImportReport:
        """Import one export in chunks of ``CHUNK_ROWS`` rows, each committed on its own, so
        memory stays flat whatever the file's size and the gateway's other writers (readings)
        wait at most one chunk for the store. Keys seen so far live in a temporary table
        (duplicates are found there, and a snapshot's removals computed from it at the end).
        The import is recorded as ``incomplete:`` until its last chunk: an unchanged file is
        recognised only once it went through whole, and rows a crashed import left behind
        count as changed when the export is read again (their days are recomputed)."""
        ds = DATASETS[cfg.dataset]
        rep = ImportReport(cfg.name, src.name, dataset=cfg.dataset)
        fingerprint = import_fingerprint(cfg, src)
        master = self._master_for(ds)
        if master is not None:  # a changed master re-reads the shipments (a product added lets rows in)
            fingerprint = hashlib.sha256((fingerprint + master_hash(master)).encode()).hexdigest()
        if not force and self.seen(cfg.name, fingerprint):
            rep.status = "unchanged"
            return rep
        missing = [f"{f} ({c.column})" for f, c in source_columns(cfg) if norm_header(c.column) not in src.columns]
        run = _Run(cfg, ds, src, fingerprint, rep, self.clock())
        if missing:
            detail = UserError(N_("columns not in the header: {missing}; header is {header}"), missing=missing,
                               header=src.columns)
            rep.status, rep.error, rep.error_detail = "failed", str(detail), detail
            run.quarantine.append((0, rep.error, ",".join(src.columns)))
        else:
            for row in src.rows:
                try:
                    m = self.map_row(ds, cfg, row)
                except ValueError as exc:
                    run.quarantine.append((row.line, str(exc), row.raw))
                else:
                    why = self._not_in_master(cfg, row, m, master) if master is not None else None
                    if why:
                        run.quarantine.append((row.line, why, row.raw))
                    else:
                        run.mapped.append(m)
                if len(run.mapped) + len(run.quarantine) >= CHUNK_ROWS:
                    self._commit_chunk(run)
        self._commit_chunk(run, last=True)
        if run.n_quarantined:
            log.warning("rows quarantined", extra={"connector": cfg.name, "source": src.name,
                                                   "quarantined": run.n_quarantined})
        if rep.status != "failed":
            rep.status = "imported"
        return rep

    def _not_in_master(self, cfg: ConnectorCfg, row: SourceRow, m: MappedRow,
                       master: dict[str, dict[str, Any]]) -> str | None:
        """Why a shipment row cannot be counted in packs, or None. The reason names the product
        as the export writes it: quarantine reasons stay on site, for the enterprise to fix."""
        need = self.products.counted_field
        spec = cfg.columns.get("product")
        name = row.values.get(norm_header(column_of(spec).column or "")) if spec is not None else None
        token = m.fields.get("product")
        if token is None:
            return (f"product is empty: a product master is declared and shipped parts are counted in "
                    f"{self.products.counted_unit}s per product")
        entry = master.get(token)
        if entry is None:
            return (f"product {str(name).strip()!r} is not in the product master ([products.items] in the profile "
                    f"or a products export): its {need} is unknown")
        if not entry.get(need):
            return (f"product {str(name).strip()!r} has no {need} in the product master "
                    f"(counted_unit = {self.products.counted_unit!r})")
        return None

    def _tx(self) -> Any:
        """One chunk's transaction on the store's connection, under the store's lock."""
        return erp_store.import_transaction(self.store)

    def _begin(self, run: _Run) -> None:
        run.iid, run.incomplete = erp_store.begin_import(self.store, run.cfg.name, run.src.name, run.fingerprint,
                                                         run.now, run.ds.name)
        run.rep.import_id = run.iid

    def _write_chunk(self, run: _Run) -> None:
        cfg, ds, rep, iid, now, st = run.cfg, run.ds, run.rep, run.iid, run.now, self.store
        existing = erp_store.stored_rows(st, cfg.name, ds.name, [m.key for m in run.mapped])
        for m in run.mapped:
            first = erp_store.claim_key(st, m.key, m.line)
            if first is not None:
                run.quarantine.append((m.line, f"duplicate key {m.key!r} (first on line {first})", m.raw))
                continue
            rep.rows_ok += 1
            run.lo = m.day if run.lo is None or m.day < run.lo else run.lo
            run.hi = m.day if run.hi is None or m.day > run.hi else run.hi
            old = existing.get(m.key)
            fields = json.dumps(m.fields, sort_keys=True, ensure_ascii=False)
            if old is None:
                erp_store.add_row(st, cfg.name, ds.name, m.key, m.day, m.ts, fields, m.row_hash, iid)
                rep.added += 1
                rep.days.add(m.day)
            elif old.row_hash != m.row_hash:
                erp_store.replace_row(st, old.id, m.day, m.ts, fields, m.row_hash, iid)
                erp_store.record_change(st, iid, now, cfg.name, ds.name, m.key, "changed", old.fields, fields)
                rep.changed += 1
                rep.days.update((m.day, old.day))
            else:
                rep.unchanged += 1
                if old.import_id in run.incomplete:  # left by an import that never finished: recompute its day
                    rep.days.add(m.day)
        erp_store.quarantine(st, iid, cfg.name, run.src.name, run.quarantine)
        run.n_quarantined += len(run.quarantine)
        rep.quarantined_count = run.n_quarantined
        room = QUARANTINE_IN_REPORT - len(rep.quarantined)
        rep.quarantined.extend((ln, r) for ln, r, _raw in run.quarantine[:max(room, 0)])
        run.mapped.clear()
        run.quarantine.clear()

    def _removals(self, run: _Run) -> int:
        """Snapshot mode: delete up to a chunk of the rows of the days covered that the corrected
        export no longer has (inside the caller's transaction); returns how many."""
        cfg, ds, rep, iid, now = run.cfg, run.ds, run.rep, run.iid, run.now
        if cfg.mode != "snapshot" or run.lo is None or run.hi is None:
            return 0
        gone = erp_store.rows_not_reexported(self.store, cfg.name, ds.name, run.lo, run.hi, iid, CHUNK_ROWS)
        for rid, key, fields, day in gone:
            erp_store.remove_row(self.store, rid)
            erp_store.record_change(self.store, iid, now, cfg.name, ds.name, key, "removed", fields, None)
            rep.removed += 1
            rep.days.add(day)
        return len(gone)

    def _finish(self, run: _Run) -> None:
        """Record the import as complete (inside the caller's transaction)."""
        ds, rep = run.ds, run.rep
        if not ds.date_field and (rep.added or rep.changed or rep.removed):
            # The master changed: every day with shipments converts to packs anew.
            rep.days = erp_store.days_with_rows(self.store, "shipments")
        erp_store.finish_import(self.store, run.iid, run.cfg.name, ds.name, run.fingerprint, (run.lo, run.hi),
                                {"rows_ok": rep.rows_ok, "rows_quarantined": run.n_quarantined, "added": rep.added,
                                 "changed": rep.changed, "removed": rep.removed, "unchanged": rep.unchanged})

    def _commit_chunk(self, run: _Run, last: bool = False) -> None:
        """One transaction: (the import's start,) a chunk of rows, (and at the end the removals
        and the completion). A small export is one transaction, as it always was."""
        with self._tx():
            if not run.iid:
                self._begin(run)
            self._write_chunk(run)
            if last and self._removals(run) < CHUNK_ROWS:
                self._finish(run)
                return
        while last:
            with self._tx():
                if self._removals(run) < CHUNK_ROWS:
                    self._finish(run)
                    return

    # -- one connector ------------------------------------------------------------------------
    def run(self, cfg: ConnectorCfg, state_dir: str | Path, settle_s: float = 0.0) -> list[ImportReport]:
        """Read every new export of one connector (oldest file first) and import it."""
        reports: list[ImportReport] = []
        if cfg.kind == "sql":
            try:
                src = read_sql(cfg.url or "", cfg.query or "", cfg.name)
            except SourceError as exc:
                return [ImportReport(cfg.name, cfg.name, "failed", error=str(exc), error_detail=exc)]
            return [self.import_source(cfg, src)]
        folder = resolve_path(cfg.path or "", state_dir)
        if not folder.is_dir():
            detail = UserError(N_("drop folder {folder} does not exist"), folder=folder)
            return [ImportReport(cfg.name, str(folder), "failed", error=str(detail), error_detail=detail)]
        now = time.time()  # file times are real times, whatever the import clock says
        master = self._master_for(DATASETS[cfg.dataset])
        cfg_hash = hashlib.sha256(msgspec.json.encode(cfg) + (master_hash(master) if master is not None else "")
                                  .encode()).hexdigest()
        files = [p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatch(p.name, cfg.pattern)
                 and not p.name.startswith((".", "~$"))]
        for path in sorted(files, key=lambda p: (p.stat().st_mtime, p.name)):
            st = path.stat()
            if now - st.st_mtime < settle_s:
                continue  # still being written by the enterprise's export job
            stamp = (st.st_size, st.st_mtime_ns)
            seen_key = (cfg.name, str(path), cfg_hash)
            if self._stat_seen.get(seen_key) == stamp:
                reports.append(ImportReport(cfg.name, path.name, "unchanged"))
                continue
            try:
                src = read_file(path, cfg.encoding, cfg.delimiter, cfg.sheet, cfg.header_row)
            except (SourceError, OSError) as exc:
                reports.append(ImportReport(cfg.name, path.name, "failed", error=str(exc), error_detail=exc))
                continue
            rep = self.import_source(cfg, src)
            reports.append(rep)
            if rep.status != "failed":
                self._stat_seen[seen_key] = stamp
        return reports


def source_columns(cfg: ConnectorCfg) -> list[tuple[str, Column]]:
    """(field or input name, spec) of every entry read from a column (expressions read none)."""
    return [(f, c) for table in (cfg.columns, cfg.inputs) for f, c in ((f, column_of(s)) for f, s in table.items())
            if c.column is not None]


def quarantine_rows(store: Any, connector: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Quarantined lines, newest first, for the enterprise to fix (status page, CLI)."""
    rows = erp_store.quarantined_lines(store, connector, limit)
    return [{"import_id": r[0], "connector": r[1], "source": r[2], "line": r[3], "reason": r[4], "raw": r[5]}
            for r in rows]
