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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SourceRow:
    line: int
    raw: str  # the line as found, for the quarantine report (stays on site)
    values: dict[str, Any]


@dataclass
class Source:
    name: str
    content_hash: str
    rows: list[SourceRow] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    encoding: str | None = None


class SourceError(ValueError):
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
    where = f"{name}: " if name else ""
    hint = "declare the export's encoding in the connector (encoding = \"gbk\", \"gb18030\", \"utf-8-sig\", ...)"
    raise SourceError(f"{where}cannot decode as {' or '.join(candidates)}: {'; '.join(failures)}; {hint}")


def read_csv(path: Path, encoding: str = "auto", delimiter: str = ",", header_row: int = 1) -> Source:
    data = path.read_bytes()
    text, used = decode(data, encoding, path.name)
    src = Source(path.name, hashlib.sha256(data).hexdigest(), encoding=used)
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    for rec in reader:
        line = reader.line_num
        if header is None:
            if line >= header_row:
                header = [norm_header(h) for h in rec]
                src.columns = header
            continue
        if not any(c.strip() for c in rec):
            continue
        raw = lines[line - 1] if 0 < line <= len(lines) else delimiter.join(rec)
        if len(rec) > len(header):
            src.rows.append(SourceRow(line, raw, {"__extra__": rec[len(header):], **dict(zip(header, rec,
                                                                                              strict=False))}))
        else:
            src.rows.append(SourceRow(line, raw, dict(zip(header, rec, strict=False))))
    if header is None:
        raise SourceError("no header row")
    return src


def read_excel(path: Path, sheet: str | None = None, header_row: int = 1) -> Source:
    import openpyxl

    data = path.read_bytes()
    src = Source(path.name, hashlib.sha256(data).hexdigest(), encoding="xlsx")
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a damaged file
        raise SourceError(f"not a readable .xlsx workbook ({exc})") from exc
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise SourceError(f"no sheet {sheet!r} (sheets: {wb.sheetnames})")
        ws = wb[sheet] if sheet else wb.active
        header: list[str] | None = None
        for idx, row in enumerate(ws.iter_rows(values_only=True), start=1):
            if idx < header_row:
                continue
            if header is None:
                header = [norm_header(h) for h in row]
                src.columns = header
                continue
            if all(v is None or str(v).strip() == "" for v in row):
                continue
            values = {h: v for h, v in zip(header, row, strict=False) if h}
            src.rows.append(SourceRow(idx, "\t".join("" if v is None else str(v) for v in row), values))
    finally:
        wb.close()
    if header is None:
        raise SourceError("no header row")
    return src


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
        raise SourceError("a SQLite connector needs a database file")
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
        raise SourceError(f"no database driver for this URL ({exc}); the erp extra installs "
                          "postgresql+psycopg:// and mysql+pymysql://") from exc
    except Exception as exc:  # ArgumentError for an unparsable URL, NoSuchModuleError for an unknown dialect
        raise SourceError(f"unusable database URL: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
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
        raise SourceError(f"query failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
    finally:
        engine.dispose()
    h = hashlib.sha256(json.dumps([columns, rows], default=str, ensure_ascii=False).encode()).hexdigest()
    src = Source(name, h, columns=columns, encoding=backend)
    for i, r in enumerate(rows, start=1):
        src.rows.append(SourceRow(i, "\t".join("" if v is None else str(v) for v in r), dict(zip(columns, r,
                                                                                                 strict=True))))
    return src
