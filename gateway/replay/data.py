"""The replay data folder: validated in full before anything is stored or sent.

Layout (docs/replay.md)::

    DIR/<device>.csv             one per replayed device: a ``timestamp`` column and point columns
    DIR/exports/<connector>/...  the MES/ERP exports one folder connector of the profile reads

A device CSV's ``timestamp`` is ISO 8601 *with* an offset (``2026-10-05T08:00:00+08:00``,
``...Z``) or Unix epoch seconds (``1790000000`` or ``1790000000.5``); a naive time is
refused because the zone would be a guess. Times must strictly increase. The other columns
are the device's point names from the profile (``import_kwh``, ``power_total``), holding
decoded engineering values (scaling already applied). An empty cell is a point that could
not be read in that poll; a row with every cell empty is a failed poll.

Validation is one streaming pass (constant memory whatever the length of the history), so a
bad line late in a file stops the replay before the store or the receiver has seen anything.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.i18n import N_
from gateway.replay import declarations
from gateway.user_error import Part, UserError, english

TIMESTAMP = "timestamp"
EXPORTS = "exports"
_EPOCH = re.compile(r"^\d+(\.\d+)?$")
EARLIEST, LATEST = 946684800.0, 4102444800.0  # 2000-01-01 .. 2100-01-01
# A silence of every device longer than this (or 3 of the slowest cadence) is the recording
# gateway being down: no indicators were computed and no batches made during it.
MIN_DOWN_S = 900.0


class ReplayError(UserError, RuntimeError):
    """The replay cannot start or cannot go on (identity, state, receiver); says what to do."""


class ReplayDataError(UserError, ValueError):
    """Bad input, named by file, line and column so it can be fixed at source."""

    def __init__(self, file: Path | str, line: int, column: str | None, message: str, /, **params: Any) -> None:
        self.file, self.line, self.column, self.message = str(file), line, column, english(message, params)
        where = f"{self.file}:{line}" if line else self.file
        detail = Part(message, params)
        if column:
            UserError.__init__(self, N_("{where}: column {column}: {message}"), where=where, column=repr(column),
                               message=detail)
        else:
            UserError.__init__(self, N_("{where}: {message}"), where=where, message=detail)


def parse_timestamp(text: str) -> float:
    """Epoch seconds from ISO 8601 with an offset, or from epoch seconds. Raises ValueError."""
    raw = text.strip()
    if _EPOCH.match(raw):
        ts = float(raw)
    else:
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"not a timestamp: {raw!r} (ISO 8601 with an offset, or epoch seconds)") from None
        if dt.tzinfo is None:
            raise ValueError(f"{raw!r} has no UTC offset: write it as {raw}+08:00 (or Z), or as epoch seconds")
        ts = dt.timestamp()
    if not EARLIEST <= ts < LATEST:
        hint = " (milliseconds? write seconds)" if ts >= LATEST else ""
        raise ValueError(f"implausible time {raw!r}{hint}")
    return ts


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class DeviceFile:
    device: str
    path: Path
    columns: list[str]  # point names, in the file's column order (after ``timestamp``)
    rows: int = 0
    first: float = 0.0
    last: float = 0.0
    interval_s: float = 0.0  # median spacing of the rows: the recorder's cadence
    gaps: list[tuple[float, float]] = field(default_factory=list)  # spacings longer than the down threshold


@dataclass
class ReplayData:
    root: Path
    devices: dict[str, DeviceFile]
    exports: dict[str, Path]  # connector name -> folder
    sha256: str
    start: float
    end: float
    up: list[tuple[float, float]]  # when the recording gateway was running (some device answered)
    declarations: list[Any] = field(default_factory=list)  # DIR/declarations.csv (gateway/replay/declarations.py)

    def replay_object(self) -> dict[str, Any]:
        """The body's ``replay`` object: which data, which period."""
        return {"data_sha256": self.sha256, "from": iso(self.start), "to": iso(self.end)}


def _median_interval(counts: Counter[float]) -> float:
    n = sum(counts.values())
    if n == 0:
        return 0.0
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen * 2 >= n:
            return value
    return 0.0  # pragma: no cover - the loop always returns


def scan_device(device: str, path: Path, points: list[str], down_after_s: float) -> DeviceFile:
    """Validate one device CSV in one pass; return its shape (rows, span, cadence, gaps)."""
    known = set(points)
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ReplayDataError(path, 0, None, N_("cannot read: {strerror}"), strerror=exc.strerror) from exc
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ReplayDataError(path, 1, None, N_("empty file (a header row is needed)")) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ReplayDataError(path, 1, None, N_("not a UTF-8 CSV file ({error})"), error=exc) from None
        names = [h.strip() for h in header]
        if names.count(TIMESTAMP) != 1:
            raise ReplayDataError(path, 1, TIMESTAMP, N_("exactly one 'timestamp' column is needed "
                                                         "(header is {names})"), names=names)
        for name in names:
            if name != TIMESTAMP and name not in known:
                raise ReplayDataError(path, 1, name, N_("not a point of device {device}; its points are {known}"),
                                                     device=f'{device!r}', known=sorted(known))
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ReplayDataError(path, 1, dupes[0], N_("column appears twice"))
        if len(names) < 2:
            raise ReplayDataError(path, 1, None, N_("no point columns after 'timestamp'"))
        ti = names.index(TIMESTAMP)
        cols = [(i, n) for i, n in enumerate(names) if i != ti]
        df = DeviceFile(device, path, [n for _, n in cols])
        spacing: Counter[float] = Counter()
        prev: float | None = None
        try:
            for rec in reader:
                line = reader.line_num
                if not rec or not any(c.strip() for c in rec):
                    continue
                if len(rec) != len(names):
                    raise ReplayDataError(path, line, None, N_("{n_rec} cells, the header has {n_names}"),
                                                            n_rec=len(rec), n_names=len(names))
                try:
                    ts = parse_timestamp(rec[ti])
                except ValueError as exc:
                    raise ReplayDataError(path, line, TIMESTAMP, str(exc)) from None
                if prev is not None and ts <= prev:
                    raise ReplayDataError(path, line, TIMESTAMP, N_("time {value} is not after the previous row's "
                                                                    "({value2}): rows must be in strictly increasing "
                                                                    "time"),
                                                                 value=f'{rec[ti].strip()!r}', value2=iso(prev))
                for i, name in cols:
                    cell = rec[i].strip()
                    if cell:
                        try:
                            float(cell)
                        except ValueError:
                            raise ReplayDataError(path, line, name, N_("not a number: {cell}"),
                                                                    cell=f'{cell!r}') from None
                if prev is None:
                    df.first = ts
                else:
                    gap = ts - prev
                    spacing[round(gap, 1)] += 1
                    if gap > down_after_s:
                        df.gaps.append((prev, ts))
                prev = ts
                df.rows += 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ReplayDataError(path, reader.line_num, None, N_("unreadable CSV ({error})"), error=exc) from None
    if df.rows == 0:
        raise ReplayDataError(path, 0, None, N_("no data rows"))
    df.last = prev if prev is not None else df.first
    df.interval_s = _median_interval(spacing)
    if df.rows > 1 and df.interval_s <= 0:
        raise ReplayDataError(path, 0, TIMESTAMP, N_("rows are less than 0.1 s apart: cannot tell the cadence"))
    return df


def read_rows(df: DeviceFile) -> Iterator[tuple[float, str, list[float | None]]]:
    """The second pass over a validated file: (ts, device, value per column; None = not read)."""
    with open(df.path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        names = [h.strip() for h in next(reader)]
        ti = names.index(TIMESTAMP)
        idx = [i for i in range(len(names)) if i != ti]
        for rec in reader:
            if not rec or not any(c.strip() for c in rec):
                continue
            yield parse_timestamp(rec[ti]), df.device, [float(rec[i]) if rec[i].strip() else None for i in idx]


def merged_rows(files: list[DeviceFile]) -> Iterator[tuple[float, str, list[float | None]]]:
    """Every device's rows in time order (ties by device name): one poll at a time, as live."""
    return heapq.merge(*(read_rows(f) for f in files), key=lambda r: (r[0], r[1]))


def up_periods(files: list[DeviceFile], start: float, end: float) -> list[tuple[float, float]]:
    """When the recording gateway was running: [start, end] minus the times when *every*
    device was silent for longer than the down threshold (before a device's first row and
    after its last it is silent too). A device that alone goes quiet is a device fault, not
    a gateway outage."""
    silent: list[tuple[float, float]] | None = None
    for f in files:
        mine = [(start, f.first)] if f.first > start else []
        mine += f.gaps
        if f.last < end:
            mine.append((f.last, end))
        silent = mine if silent is None else _intersect(silent, mine)
    down = [(a, b) for a, b in (silent or []) if b > a]
    out: list[tuple[float, float]] = []
    t = start
    for a, b in sorted(down):
        if a > t:
            out.append((t, a))
        t = max(t, b)
    if t < end or not out:
        out.append((t, end))
    return out


def _intersect(xs: list[tuple[float, float]], ys: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for a, b in xs:
        for c, d in ys:
            lo, hi = max(a, c), min(b, d)
            if hi > lo:
                out.append((lo, hi))
    return out


def _sha_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def scan(root: Path, device_points: dict[str, list[str]], export_connectors: list[str],
         down_after_s: float | None = None) -> ReplayData:
    """Validate the whole folder. ``device_points``: replayable device -> its point names;
    ``export_connectors``: the profile's folder connectors. Raises ReplayDataError."""
    root = Path(root)
    if not root.is_dir():
        raise ReplayDataError(root, 0, None, N_("data folder does not exist"))
    csvs = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".csv"
                  and p.name != declarations.FILE)
    unknown = [p for p in csvs if p.stem not in device_points]
    if unknown:
        raise ReplayDataError(unknown[0], 0, None, N_("no device {stem} in the profile; its devices are "
                                                      "{device_points}"),
                                                   stem=f'{unknown[0].stem!r}', device_points=sorted(device_points))
    if not csvs:
        raise ReplayDataError(root, 0, None, N_("no device CSV (<device>.csv) in the folder; devices: {device_points}"),
                                             device_points=sorted(device_points))
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    stray = [d for d in dirs if d.name != EXPORTS]
    if stray:
        raise ReplayDataError(stray[0], 0, None, N_("unexpected folder: exports go in {value}/<connector>/"),
                                                 value=root / EXPORTS)
    exports: dict[str, Path] = {}
    if (root / EXPORTS).is_dir():
        for d in sorted(p for p in (root / EXPORTS).iterdir() if not p.name.startswith(".")):
            if not d.is_dir() or d.name not in export_connectors:
                raise ReplayDataError(d, 0, None, N_("not a folder connector of the profile; its folder connectors "
                                                     "are {export_connectors}"),
                                                  export_connectors=sorted(export_connectors))
            exports[d.name] = d
    # Gaps longer than the smallest possible threshold are noted in the one pass; the
    # threshold itself depends on the slowest cadence, known only after every file is read.
    files = [scan_device(p.stem, p, device_points[p.stem], down_after_s or MIN_DOWN_S) for p in csvs]
    slowest = max(files, key=lambda f: f.interval_s)
    if down_after_s is not None and down_after_s < 2 * slowest.interval_s:
        raise ReplayDataError(slowest.path, 0, TIMESTAMP, N_("a down threshold of {down_after_s} s is shorter than "
                                                             "twice this file's cadence ({interval_s} s): every row "
                                                             "would be a restart"),
                                                          down_after_s=f'{down_after_s:g}',
                                                          interval_s=f'{slowest.interval_s:g}')
    threshold = down_after_s or max(MIN_DOWN_S, 3 * slowest.interval_s)
    for f in files:
        f.gaps = [g for g in f.gaps if g[1] - g[0] > threshold]
    start, end = min(f.first for f in files), max(f.last for f in files)
    digest = hashlib.sha256()
    decl_path = root / declarations.FILE  # parsed by session.check_data, which knows the site's time zone
    hashed = [*sorted([*csvs, *([decl_path] if decl_path.is_file() else [])]),  # every DIR/*.csv, sorted
              *(f for d in exports.values() for f in sorted(d.rglob("*"))
                if f.is_file() and not f.name.startswith("."))]
    for p in hashed:
        digest.update(f"{p.relative_to(root).as_posix()}\t{_sha_file(p)}\n".encode())
    return ReplayData(root, {f.device: f for f in files}, exports, digest.hexdigest(), start, end,
                      up_periods(files, start, end))

