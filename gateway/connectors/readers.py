"""Reading exports into rows of {column: value}, with the line each came from.

Nothing here writes anywhere: files are opened for reading, SQLite databases with
``mode=ro`` (the file cannot be changed through this connection), other databases inside
a read-only transaction. Each source carries a content hash so re-reading an unchanged
export is recognised and skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.i18n import N_
from gateway.user_error import UserError


@dataclass
class SourceRow:
    line: int
    raw: str  # the line as found, for the quarantine report (stays on site)
    values: dict[str, Any]


@dataclass
class Source:
    """One export. ``rows`` is iterated once per import: a list for small sources (SQL, the
    product master), a streaming reader for files, so a 200 MB export is never held whole."""

    name: str
    content_hash: str
    rows: Iterable[SourceRow] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    encoding: str | None = None


class SourceError(UserError, ValueError):
    """The whole source is unusable (unreadable, undecodable, no header)."""


def norm_header(name: object) -> str:
    return unicodedata.normalize("NFKC", str(name or "")).strip().lstrip("\ufeff")


def decode(data: bytes, encoding: str, name: str = "") -> tuple[str, str]:
    """Text and the encoding used. 'auto' tries UTF-8 first (with or without a BOM: a GBK file
    is almost never valid UTF-8), then GB18030, the superset of GBK/GB2312 that Chinese Excel
    and MES write. A file that decodes with none is a SourceError naming the file, the line
    of the first bad byte and the encodings tried."""
    candidates = ["utf-8-sig", "gb18030"] if encoding == "auto" else [encoding]
    failures: list[str] = []
    for enc in candidates:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            failures.append(f"line {line} is not {enc} (byte {data[exc.start:exc.start + 1].hex()} at offset "
                            f"{exc.start})")
    raise SourceError(_decode_message(name, candidates, failures))


def _decode_message(name: str, candidates: list[str], failures: list[str]) -> str:
    where = f"{name}: " if name else ""
    hint = "declare the export's encoding in the connector (encoding = \"gbk\", \"gb18030\", \"utf-8-sig\", ...)"
    return f"{where}cannot decode as {' or '.join(candidates)}: {'; '.join(failures)}; {hint}"


# Files are read in pieces of about this many bytes, each ending at a newline: UTF-8 and
# GB18030 never use the byte 0x0A inside a character, so every piece decodes on its own.
PIECE_BYTES = 1 << 20


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while True:
            piece = f.read(PIECE_BYTES)
            if not piece:
                return
            if not piece.endswith(b"\n"):
                piece += f.readline()
            yield piece


def _piece_codec(enc: str, first: bool) -> str:
    # A byte-order mark can only open the file: later pieces are plain UTF-8.
    return enc if first or enc.replace("_", "-").lower() != "utf-8-sig" else "utf-8"


@dataclass
class _Scan:
    content_hash: str
    encoding: str
    truncated_line: int | None  # the file ends inside a character on this line (a cut-off copy)


def _scan(path: Path, encoding: str) -> _Scan:
    """Hash the file and find an encoding that decodes it, piece by piece (bounded memory).
    A file whose only undecodable bytes are an incomplete character at its very end was cut
    off (a copy interrupted, a disk full on the MES side): it is readable up to its last line."""
    candidates = ["utf-8-sig", "gb18030"] if encoding == "auto" else [encoding]
    failures: list[str] = []
    digest: str | None = None
    for enc in candidates:
        h = hashlib.sha256() if digest is None else None
        offset, lines, truncated, failed = 0, 0, None, False
        pieces = _pieces(path)
        piece = next(pieces, b"")
        first = True
        while piece:
            following = next(pieces, b"")
            if h is not None:
                h.update(piece)
            if not failed:
                try:
                    piece.decode(_piece_codec(enc, first))
                except UnicodeDecodeError as exc:
                    line = lines + piece[:exc.start].count(b"\n") + 1
                    cut_off = not following and exc.end >= len(piece) and exc.start > len(piece) - 4
                    if cut_off:
                        truncated = line
                    else:
                        failures.append(f"line {line} is not {enc} (byte {piece[exc.start:exc.start + 1].hex()} "
                                        f"at offset {offset + exc.start})")
                        failed = True
                        if h is None:
                            break
            offset += len(piece)
            lines += piece.count(b"\n")
            piece, first = following, False
        if h is not None:
            digest = h.hexdigest()
        if not failed:
            assert digest is not None
            return _Scan(digest, enc, truncated)
    raise SourceError(_decode_message(path.name, candidates, failures))


class CsvRows:
    """The data rows of a CSV export, read lazily (iterate it once per import).

    Each row carries the line it starts on and its raw text. A file cut off inside a
    quoted field or a character gives its last row with ``__error__`` naming the line, so
    the importer quarantines that row and keeps the complete ones."""

    def __init__(self, path: Path, scan: _Scan, delimiter: str, header_row: int) -> None:
        self.path, self.scan, self.delimiter, self.header_row = path, scan, delimiter, header_row
        self.columns: list[str] | None = None
        for _rec, _line, _raw, _last, _error in self._records(header_only=True):
            break

    def _lines(self, buf: list[str]) -> Iterator[str]:
        for i, piece in enumerate(_pieces(self.path)):
            text = piece.decode(_piece_codec(self.scan.encoding, i == 0), errors="replace")
            for ln in io.StringIO(text):
                buf.append(ln)
                yield ln

    def _records(self, header_only: bool = False) -> Iterator[tuple[list[str], int, str, bool, str | None]]:
        """(cells, first line, raw text, is_last, error) of every record after the header. A
        record the csv module cannot parse (a stray carriage return in an unquoted field) comes
        with the error instead of ending the file."""
        buf: list[str] = []
        reader = csv.reader(self._lines(buf), delimiter=self.delimiter)
        pending: tuple[list[str], int, str, str | None] | None = None
        header_seen = False
        while True:
            error = None
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                rec, error = [], f"line {reader.line_num}: not a CSV record ({exc})"
            first = reader.line_num - len(buf) + 1
            raw = "".join(buf)
            buf.clear()
            if not header_seen:
                if error is not None:
                    raise SourceError(N_("{name}: header {error}"), name=self.path.name, error=error)
                if reader.line_num >= self.header_row:
                    header_seen = True
                    self.columns = [norm_header(h) for h in rec]
                    if header_only:
                        yield rec, first, raw, False, None
                        return
                continue
            if pending is not None:
                yield (*pending[:3], False, pending[3])
            pending = (rec, first, raw, error)
        if pending is not None:
            yield (*pending[:3], True, pending[3])

    def _truncation(self, raw: str, first: int) -> str | None:
        t = self.scan.truncated_line
        if t is not None and first <= t <= first + raw.count("\n"):
            return f"line {t}: the file ends inside a character (a cut-off export?)"
        try:
            for _ in csv.reader(io.StringIO(raw), delimiter=self.delimiter, strict=True):
                pass
        except csv.Error:
            return f"line {first}: the file ends inside a quoted field opened on this line (a cut-off export?)"
        return None

    def __iter__(self) -> Iterator[SourceRow]:
        header = self.columns or []
        for rec, line, raw_text, last, error in self._records():
            raw = raw_text.rstrip("\r\n")
            if error is not None:
                yield SourceRow(line, raw, {"__error__": error})
                continue
            if not any(c.strip() for c in rec):
                continue
            values: dict[str, Any] = dict(zip(header, rec, strict=False))
            if last and (why := self._truncation(raw_text, line)):
                values["__error__"] = why
            if len(rec) > len(header):
                values = {"__extra__": rec[len(header):], **values}
            yield SourceRow(line, raw, values)


def read_csv(path: Path, encoding: str = "auto", delimiter: str = ",", header_row: int = 1) -> Source:
    """A CSV export, streamed: hashed and checked for its encoding in one pass, rows read
    lazily in a second, so memory does not grow with the file."""
    scan = _scan(path, encoding)
    rows = CsvRows(path, scan, delimiter, header_row)
    if rows.columns is None:
        raise SourceError(N_("no header row"))
    return Source(path.name, scan.content_hash, rows, list(rows.columns), scan.encoding)


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(PIECE_BYTES):
            h.update(chunk)
    return h.hexdigest()


class ExcelRows:
    """The data rows of a worksheet, read lazily with openpyxl's read-only mode."""

    def __init__(self, path: Path, sheet: str | None, header_row: int) -> None:
        self.path, self.sheet, self.header_row = path, sheet, header_row
        self.columns: list[str] | None = None
        for _ in self._rows(header_only=True):
            break

    def _rows(self, header_only: bool = False) -> Iterator[SourceRow]:
        import openpyxl

        try:
            wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several types for a damaged file
            raise SourceError(N_("not a readable .xlsx workbook ({error})"), error=exc) from exc
        try:
            if self.sheet is not None and self.sheet not in wb.sheetnames:
                raise SourceError(N_("no sheet {sheet} (sheets: {sheetnames})"),
                                  sheet=f'{self.sheet!r}', sheetnames=wb.sheetnames)
            ws = wb[self.sheet] if self.sheet else wb.active
            header: list[str] | None = None
            for idx, row in enumerate(ws.iter_rows(values_only=True), start=1):
                if idx < self.header_row:
                    continue
                if header is None:
                    header = [norm_header(h) for h in row]
                    self.columns = header
                    if header_only:
                        return
                    continue
                if all(v is None or str(v).strip() == "" for v in row):
                    continue
                values = {h: v for h, v in zip(header, row, strict=False) if h}
                yield SourceRow(idx, "\t".join("" if v is None else str(v) for v in row), values)
        finally:
            wb.close()

    def __iter__(self) -> Iterator[SourceRow]:
        return self._rows()


def read_excel(path: Path, sheet: str | None = None, header_row: int = 1) -> Source:
    rows = ExcelRows(path, sheet, header_row)
    if rows.columns is None:
        raise SourceError(N_("no header row"))
    return Source(path.name, _file_hash(path), rows, list(rows.columns), "xlsx")


def read_file(path: Path, encoding: str, delimiter: str, sheet: str | None, header_row: int) -> Source:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_excel(path, sheet, header_row)
    return read_csv(path, encoding, delimiter, header_row)


def sql_engine_url(url: str) -> str:
    """SQLite through its URI form with mode=ro: the connection itself cannot write."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return url
    db = u.database or ""
    if not db or db == ":memory:":
        raise SourceError(N_("a SQLite connector needs a database file"))
    if db.startswith("file:"):
        return url if "mode=ro" in db else url + ("&" if "?" in db else "?") + "mode=ro"
    return f"sqlite:///file:{Path(db).resolve()}?mode=ro&uri=true"


def read_sql(url: str, query: str, name: str) -> Source:
    """Run ``query`` read-only and return its rows; any failure is a SourceError, never a crash.

    MySQL/MariaDB get ``SET SESSION TRANSACTION READ ONLY``, not the plain ``SET TRANSACTION``
    PostgreSQL gets: there a DDL statement (DROP/CREATE/TRUNCATE/RENAME TABLE) first commits the
    open transaction and then runs in a new one the server opens itself, which the plain form
    (next transaction only) does not cover, so the DDL went through (seen on MariaDB 10.11).
    The session form makes every transaction of this connection read-only; the connection is
    closed with the engine at the end, so the setting never outlives this call.

    Building the engine is inside the error handling too: a URL SQLAlchemy cannot parse, or one
    naming a driver that is not installed (``mysql://`` means MySQLdb, which the erp extra does
    not ship), must fail this connector with a message, not the import run.
    """
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(sql_engine_url(url))
    except SourceError:
        raise
    except ModuleNotFoundError as exc:
        raise SourceError(N_("no database driver for this URL ({error}); the erp extra installs "
                             "postgresql+psycopg:// and mysql+pymysql://"), error=exc) from exc
    except Exception as exc:  # ArgumentError for an unparsable URL, NoSuchModuleError for an unknown dialect
        raise SourceError(N_("unusable database URL: {type}: {value}"),
                          type=type(exc).__name__, value=str(exc).splitlines()[0][:300]) from exc
    backend = engine.dialect.name
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                conn = conn.execution_options(postgresql_readonly=True)
            with conn.begin():
                if backend == "postgresql":
                    # First statement of the transaction: everything after it is read-only.
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                elif backend in ("mysql", "mariadb"):
                    conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
                result = conn.execute(text(query))
                columns = [norm_header(c) for c in list(result.keys())]
                rows = [tuple(r) for r in result.fetchall()]
    except SourceError:
        raise
    except Exception as exc:  # SQLAlchemy/DBAPI errors: report, do not crash the gateway
        raise SourceError(N_("query failed: {type}: {value}"),
                          type=type(exc).__name__, value=str(exc).splitlines()[0][:300]) from exc
    finally:
        engine.dispose()
    h = hashlib.sha256(json.dumps([columns, rows], default=str, ensure_ascii=False).encode()).hexdigest()
    return Source(name, h, [SourceRow(i, "\t".join("" if v is None else str(v) for v in r),
                                      dict(zip(columns, r, strict=True))) for i, r in enumerate(rows, start=1)],
                  columns=columns, encoding=backend)
