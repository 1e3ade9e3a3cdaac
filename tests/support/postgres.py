"""A real, throwaway PostgreSQL server for tests and benchmarks (no mocks, no shared server).

``ThrowawayPostgres`` runs ``initdb`` + ``pg_ctl start`` in a temporary directory, listens
only on a Unix socket in that directory (nothing on the network, no port clash with other
test runs), and deletes everything on ``stop()``. PostgreSQL refuses to run as root, so as
root the cluster runs as ``nobody``. The cluster uses the C locale so text sorts by bytes,
as SQLite does.

Tests use the ``postgres_server`` fixture (session scope: one server per run; each test
creates its own database with ``create_database``). Benchmarks use the class directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.services import missing_service

_BIN_CANDIDATES = [f"/usr/lib/postgresql/{v}/bin" for v in (17, 16, 15, 14, 13)]


def find_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    for cand in _BIN_CANDIDATES:
        if (Path(cand) / "initdb").exists():
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_pg_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *cmd] if os.geteuid() == 0 else cmd


class ThrowawayPostgres:
    """One private PostgreSQL cluster; ``url(db)`` gives a libpq URL for psycopg."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin()
        if found is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = found
        self.base = Path(tempfile.mkdtemp(prefix="edgeproof-pg-"))
        self.data = self.base / "data"
        self.port = 5432  # only names the socket file: there is no TCP listener
        self.started = False

    def start(self, **settings: str) -> ThrowawayPostgres:
        """initdb and start; ``settings`` become ``-c name=value`` server options (e.g. fsync="off")."""
        if os.geteuid() == 0:
            shutil.chown(self.base, "nobody", "nogroup")
        subprocess.run(_as_pg_user([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                    "--no-locale", "-E", "UTF8"]),
                       check=True, capture_output=True, timeout=120)
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=''"
        opts += "".join(f" -c {k}={v}" for k, v in settings.items())
        try:
            subprocess.run(_as_pg_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts,
                                        "-l", str(self.base / "log"), "-w", "start"]),
                           check=True, capture_output=True, timeout=60)
        except subprocess.CalledProcessError as exc:
            log = (self.base / "log").read_text(errors="replace") if (self.base / "log").exists() else ""
            shutil.rmtree(self.base, ignore_errors=True)
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}\n{log}") from exc
        self.started = True
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.base}&port={self.port}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL. Names are random unless given."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            subprocess.run(_as_pg_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                           capture_output=True, timeout=60)
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server for the whole test session; skips when psycopg or the server is missing."""
    pytest.importorskip("psycopg")
    if find_bin() is None:
        missing_service("the PostgreSQL server (initdb, pg_ctl)", "postgresql")
    # fsync off: a test server that dies is thrown away anyway, and the tests run faster.
    server = ThrowawayPostgres().start(fsync="off")
    try:
        yield server
    finally:
        server.stop()


def rerun_on_postgres(namespace: dict[str, Any], modules: Iterable[ModuleType],
                      skip: Iterable[str] = ()) -> None:
    """Copy the test functions (and fixtures) of ``modules`` into a PostgreSQL test module.

    pytest collects the functions found in a module's namespace and resolves their fixtures
    there, where ``rdb`` is the PostgreSQL one: the same scenarios and assertions run on both
    stores. Taken by name prefix, so scenarios added later are covered too. The caller's own
    ``rdb`` fixture is never overwritten (nor anything else it already defines).
    """
    from _pytest.fixtures import FixtureFunctionDefinition

    leave = {"rdb", *skip}
    for module in modules:
        for name, obj in vars(module).items():
            if name in leave or name in namespace:
                continue
            if name.startswith("test_") or isinstance(obj, FixtureFunctionDefinition):
                namespace[name] = obj


@pytest.fixture
def postgres_rdb(postgres_server: ThrowawayPostgres) -> Iterator[Any]:
    """A receiver store on a fresh database of the session's server (a test module binds it as ``rdb``)."""
    from cloud_stub.db_postgres import PostgresDB

    db = PostgresDB(postgres_server.create_database())
    yield db
    db.close()
