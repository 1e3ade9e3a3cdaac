"""Back up and restore a receiver: its database and its signing key, in one 0600 archive.

Why one archive: a restored receiver must sign with the key banks pinned, so the key travels
with the data it signed (a bank checking an old page needs both). The archive is a plain tar:

* ``manifest.json`` -- format, dialect, schema version, when, row counts of batches, records
  and findings, and the SHA-256 of each other member (checked before anything is restored);
* ``receiver.sqlite`` (SQLite, taken with SQLite's online backup API: ingest goes on, the copy
  is one consistent snapshot) or ``receiver.pgdump`` (``pg_dump -Fc``, one snapshot too);
* ``receiver.key`` -- the raw Ed25519 seed, when a key file was named or found next to a
  SQLite database.

Restore goes into an **empty** target only (a file that does not exist or holds no table, a
PostgreSQL database without tables), unless ``force``: restoring over a live receiver would
throw away what it accepted since. A backup made by a newer receiver (a higher schema
version) is refused; an older one is migrated when the restored database is first opened.
What the restored receiver lacks (everything accepted after the backup) the gateways resend
from their retained batches (docs/wire-format.md §16, docs/operations.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloud_stub.db import is_postgres_url
from cloud_stub.schema import SCHEMA_VERSION
from cloud_stub.texts import msg

FORMAT = "edgeproof-receiver-backup/1"
COUNTED = ("batches", "records", "findings", "gateways")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message names the file or database and why."""


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: on PATH, else the newest under /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not cands:
        raise BackupError(msg("{name} not found on PATH or under /usr/lib/postgresql/*/bin: install "
                              "postgresql-client", name=name))
    return str(cands[-1])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _counts(conn: Any) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in COUNTED}  # noqa: S608


@contextlib.contextmanager
def _private_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="edgeproof-backup-"))  # 0700
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _sqlite_snapshot(src_path: str, dest: Path) -> tuple[int, dict[str, int]]:
    if not Path(src_path).is_file():
        raise BackupError(msg("{src_path}: no such receiver database", src_path=src_path))
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=30.0)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out, pages=1024)  # a few MB at a time: ingest's writer is never held up long
            version = int(out.execute("PRAGMA user_version").fetchone()[0])
            check = out.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupError(msg("{src_path}: the copy fails SQLite's quick_check ({check})", src_path=src_path,
                                      check=check))
            try:
                counts = _counts(out)
            except sqlite3.OperationalError as exc:
                raise BackupError(msg("{src_path} is not a receiver database ({exc})", src_path=src_path,
                                      exc=exc)) from None
        finally:
            out.close()
    finally:
        src.close()
    return version, counts


def _pg_snapshot(url: str, dest: Path) -> tuple[int, dict[str, int]]:
    import psycopg

    try:
        # REPEATABLE READ: the counts are of one snapshot; pg_dump takes its own (a few rows
        # may differ from the counts while ingest goes on; restore checks at least these).
        with psycopg.connect(url, connect_timeout=10) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            counts = _counts(conn)
    except psycopg.Error as exc:
        raise BackupError(msg("cannot read the receiver database: {strip}", strip=str(exc).strip())) from None
    if row is None:
        raise BackupError(msg("the PostgreSQL database holds no receiver schema version (meta.schema_version)"))
    res = subprocess.run([pg_tool("pg_dump"), "-Fc", "--no-owner", "--no-privileges", "-f", str(dest), url],
                         capture_output=True, text=True, timeout=3600, check=False)
    if res.returncode != 0:
        raise BackupError(msg("pg_dump failed: {strip}", strip=res.stderr.strip()))
    return int(row[0]), counts


def backup(db: str, out: str | Path, key_path: str | Path | None = None) -> dict[str, Any]:
    """Write one backup archive of the receiver at ``db`` (SQLite path or PostgreSQL URL) to ``out``.

    The archive is written next to ``out`` under a temporary name, mode 0600, and renamed into
    place once complete: a crash never leaves a half archive under the real name."""
    out = Path(out)
    postgres = is_postgres_url(db)
    if key_path is None and not postgres:
        from cloud_stub.receiver_key import default_key_path

        cand = default_key_path(db)
        key_path = cand if cand.exists() else None
    t0 = time.monotonic()
    with _private_dir() as work:
        member = "receiver.pgdump" if postgres else "receiver.sqlite"
        data = work / member
        version, counts = _pg_snapshot(db, data) if postgres else _sqlite_snapshot(db, data)
        members = {member: data}
        if key_path is not None:
            key_path = Path(key_path)
            try:
                seed = key_path.read_bytes()
            except OSError as exc:
                raise BackupError(msg("{key_path}: cannot read the receiver key ({strerror})", key_path=key_path,
                                      strerror=exc.strerror)) from None
            if len(seed) != 32:
                raise BackupError(msg("{key_path} is not a 32-byte Ed25519 seed", key_path=key_path))
            (work / "receiver.key").write_bytes(seed)
            members["receiver.key"] = work / "receiver.key"
        manifest = {"format": FORMAT, "dialect": "postgresql" if postgres else "sqlite",
                    "schema_version": version, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "counts": counts, "members": {n: _sha256(p) for n, p in members.items()}}
        out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)  # 0600
        try:
            with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
                blob = json.dumps(manifest, indent=1, sort_keys=True).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mode = len(blob), 0o600
                tar.addfile(info, io.BytesIO(blob))
                for name, path in members.items():
                    info = tar.gettarinfo(str(path), arcname=name)
                    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                    with path.open("rb") as src:
                        tar.addfile(info, src)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return {"out": str(out), "bytes": out.stat().st_size, "seconds": round(time.monotonic() - t0, 3),
            "key_included": "receiver.key" in manifest["members"],
            **{k: manifest[k] for k in ("dialect", "schema_version", "created", "counts")}}


def read_manifest(archive: str | Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:") as tar:
            fh = tar.extractfile("manifest.json")
            if fh is None:
                raise KeyError("manifest.json")
            manifest = json.loads(fh.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(msg("{archive}: not an EdgeProof receiver backup ({exc})", archive=archive,
                              exc=exc)) from None
    if not isinstance(manifest, dict):
        raise BackupError(msg("{archive}: manifest.json is not a JSON object", archive=archive))
    if manifest.get("format") != FORMAT:
        raise BackupError(msg("{archive}: manifest format is {format}, expected {format2}", archive=archive,
                              format=repr(manifest.get('format')), format2=repr(FORMAT)))
    members, counts = manifest.get("members"), manifest.get("counts")
    problems = [
        ("dialect", "'sqlite' or 'postgresql'", manifest.get("dialect") in ("sqlite", "postgresql")),
        ("schema_version", "an integer >= 2",
         isinstance(manifest.get("schema_version"), int) and not isinstance(manifest.get("schema_version"), bool)
         and manifest["schema_version"] >= 2),
        ("created", "a string", isinstance(manifest.get("created"), str)),
        ("counts", f"an object of non-negative integers for {', '.join(COUNTED)}",
         isinstance(counts, dict) and all(isinstance(counts.get(t), int) and not isinstance(counts.get(t), bool)
                                          and counts[t] >= 0 for t in COUNTED)),
        ("members", "an object of member name -> 64 hex digits, with the database of its dialect",
         isinstance(members, dict) and all(isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef"
                                                                                     for c in v)
                                           for v in members.values())
         and set(members) <= {"receiver.sqlite", "receiver.pgdump", "receiver.key"}
         and ("receiver.pgdump" if manifest.get("dialect") == "postgresql" else "receiver.sqlite") in members),
    ]
    for key, expected, ok in problems:
        if not ok:
            raise BackupError(msg("{archive}: manifest.json key {key} must be {expected}, got {get}", archive=archive,
                                  key=repr(key), expected=expected, get=repr(manifest.get(key))))
    return manifest


def _extract(archive: str | Path, manifest: dict[str, Any], work: Path) -> dict[str, Path]:
    """The members named in the manifest, each checked against its SHA-256."""
    got: dict[str, Path] = {}
    with tarfile.open(archive, "r:") as tar:
        for name, digest in manifest["members"].items():
            if name not in ("receiver.sqlite", "receiver.pgdump", "receiver.key"):
                raise BackupError(msg("{archive}: unexpected member {name} in the manifest", archive=archive,
                                      name=repr(name)))
            fh = tar.extractfile(name)
            if fh is None:
                raise BackupError(msg("{archive}: member {name} is missing", archive=archive, name=name))
            path = work / name
            with path.open("wb") as out:
                shutil.copyfileobj(fh, out)
            if _sha256(path) != digest:
                raise BackupError(msg("{archive}: member {name} does not match its SHA-256 in the manifest "
                                      "(damaged)", archive=archive, name=name))
            got[name] = path
    return got


def _sqlite_is_empty(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] == 0
    finally:
        conn.close()


def _pg_is_empty(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            n = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()
    except psycopg.Error as exc:
        raise BackupError(msg("cannot reach the target database: {strip}", strip=str(exc).strip())) from None
    return n is not None and int(n[0]) == 0


def _restore_key(src: Path, key_out: Path, force: bool) -> None:
    seed = src.read_bytes()
    if key_out.exists():
        if key_out.read_bytes() == seed:
            os.chmod(key_out, 0o600)
            return
        if not force:
            raise BackupError(msg("{key_out} holds another receiver key: refusing to replace it without --force",
                                  key_out=key_out))
        key_out.unlink()
    fd = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(seed)


def restore(archive: str | Path, db: str, key_out: str | Path | None = None, force: bool = False) -> dict[str, Any]:
    """Restore ``archive`` into ``db`` (empty unless ``force``) and its key to ``key_out``.

    Checks, in order, before touching the target: the manifest, the schema version (not newer
    than this receiver's), the dialect (a SQLite backup restores to a SQLite file; use
    ``cloud move-store`` afterwards to go to PostgreSQL), the members' SHA-256, and that the
    target is empty. Afterwards the target is opened as a receiver would open it (which migrates
    an older schema) and its row counts must be at least the manifest's."""
    t0 = time.monotonic()
    manifest = read_manifest(archive)
    version = manifest["schema_version"]
    if version > SCHEMA_VERSION:
        raise BackupError(msg("{archive}: schema version {version} is newer than this receiver's "
                              "({schema_version}): restore with the receiver version that made the backup",
                              archive=archive, version=repr(version), schema_version=SCHEMA_VERSION))
    postgres = is_postgres_url(db)
    if manifest.get("dialect") != ("postgresql" if postgres else "sqlite"):
        raise BackupError(msg("{archive} is a {dialect} backup; the target {db} is {value}: restore into the same "
                              "kind of store", archive=archive, dialect=manifest.get('dialect'), db=repr(db),
                              value='PostgreSQL' if postgres else 'a SQLite file'))
    if key_out is None and not postgres:
        from cloud_stub.receiver_key import default_key_path

        key_out = default_key_path(db)
    with _private_dir() as work:
        members = _extract(archive, manifest, work)
        empty = _pg_is_empty(db) if postgres else _sqlite_is_empty(Path(db))
        if not empty and not force:
            raise BackupError(msg("the target {value} is not empty: refusing to restore over it without --force "
                                  "(that would discard what it holds)", value=db if not postgres else 'database'))
        if "receiver.key" in members:
            if key_out is None:
                raise BackupError(msg("the backup holds the receiver key: name where to put it with --key"))
            _restore_key(members["receiver.key"], Path(key_out), force)
        if postgres:
            cmd = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "-d", db]
            if not empty:
                cmd[1:1] = ["--clean", "--if-exists"]
            res = subprocess.run([*cmd, str(members["receiver.pgdump"])], capture_output=True, text=True,
                                 timeout=3600, check=False)
            if res.returncode != 0:
                raise BackupError(msg("pg_restore failed: {strip}", strip=res.stderr.strip()))
        else:
            _sqlite_restore(members["receiver.sqlite"], Path(db))
    counts = _reopen_counts(db)
    short = {t: (counts.get(t), n) for t, n in manifest["counts"].items() if counts.get(t, 0) < n}
    if short:
        raise BackupError(msg("restored database holds fewer rows than the backup: {short}", short=short))
    return {"db": db if not postgres else "postgresql", "key": str(key_out) if key_out else None,
            "schema_version": SCHEMA_VERSION, "backup_schema_version": version, "created": manifest["created"],
            "counts": counts, "seconds": round(time.monotonic() - t0, 3)}


def _sqlite_restore(src: Path, dest: Path) -> None:
    """Copy with the backup API into ``dest`` (created 0600), replacing what it holds."""
    from cloud_stub.db import _create_private

    dest.parent.mkdir(parents=True, exist_ok=True)
    _create_private(str(dest))
    s = sqlite3.connect(src)
    d = sqlite3.connect(dest, timeout=30.0)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def _reopen_counts(db: str) -> dict[str, int]:
    from cloud_stub.db import open_db

    try:
        rdb = open_db(db)
    except RuntimeError as exc:
        raise BackupError(msg("restored database does not open: {exc}", exc=exc)) from None
    try:
        with rdb.read() as conn:
            return _counts(conn)
    finally:
        rdb.close()
