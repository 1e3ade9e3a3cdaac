"""A real, throwaway MariaDB server for tests (no mocks, no shared server).

``ThrowawayMariaDB`` runs ``mariadb-install-db`` + ``mariadbd`` in a temporary directory and
deletes everything on ``stop()``. Unlike the PostgreSQL helper it listens on TCP (a free
loopback port): the SQL connector is given ``mysql+pymysql://user:pw@127.0.0.1:port/db`` URLs
as on a site, and MySQL accounts are matched by the host they connect from, so the test sees
the same grants a site would. The admin connection goes through the Unix socket in the
temporary directory. ``--no-defaults`` comes first everywhere: /etc/mysql must never leak in.
mariadbd refuses to run as root, so as root it runs as ``nobody`` (its own ``--user``, which
keeps the Popen pid the server's, so ``stop()`` can signal it directly).

Tests use the ``mariadb_server`` fixture (session scope: one server per run; each test creates
its own database with ``create_database`` and accounts with ``create_user``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import missing_service

_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin")


def find_server() -> tuple[Path, Path] | None:
    """(mariadbd, mariadb-install-db), or None when MariaDB's server is not installed.

    Only MariaDB's own names (10.5+): a ``mysqld`` may be Oracle MySQL, whose data directory is
    initialised differently (``--initialize-insecure``)."""
    install_db = shutil.which("mariadb-install-db")
    server = shutil.which("mariadbd") or next((f"{d}/mariadbd" for d in _SBIN if Path(d, "mariadbd").exists()), None)
    return (Path(server), Path(install_db)) if server and install_db else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayMariaDB:
    """One private MariaDB server on 127.0.0.1:``port``; root has no password (loopback only)."""

    def __init__(self, binaries: tuple[Path, Path] | None = None) -> None:
        found = binaries or find_server()
        if found is None:
            raise RuntimeError("MariaDB server binaries (mariadbd, mariadb-install-db) are not installed")
        self.server_bin, self.install_db = found
        self.base = Path(tempfile.mkdtemp(prefix="edgeproof-mariadb-"))
        self.data = self.base / "data"
        self.socket = self.base / "sock"
        self.log = self.base / "server.err"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""

    def _user_opts(self) -> list[str]:
        return ["--user=nobody"] if os.geteuid() == 0 else []

    def start(self, **settings: str) -> ThrowawayMariaDB:
        """Initialise and start; ``settings`` become ``--name=value`` server options."""
        try:
            if os.geteuid() == 0:
                shutil.chown(self.base, "nobody")
            subprocess.run([str(self.install_db), "--no-defaults", f"--datadir={self.data}",
                            "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
                            *self._user_opts()], check=True, capture_output=True, timeout=120)
            extra = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
            for _attempt in range(3):  # the free port can be taken between probe and bind
                self.port = _free_port()
                self.proc = subprocess.Popen(
                    [str(self.server_bin), "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}",
                     "--bind-address=127.0.0.1", f"--port={self.port}", "--skip-networking=0",
                     f"--pid-file={self.base / 'pid'}", f"--log-error={self.log}", "--skip-name-resolve",
                     # what a packaged server (Debian's 50-server.cnf) sets: text is utf8mb4, not latin1
                     "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                     *self._user_opts(), *extra],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if self._wait_ready(timeout_s=60):
                    return self
                if "Address already in use" not in self._log_text():
                    break
            raise RuntimeError(f"MariaDB did not start:\n{self._log_text()}")
        except BaseException as exc:
            stderr = getattr(exc, "stderr", None)
            self.stop()
            if stderr:
                raise RuntimeError(f"mariadb-install-db failed: {stderr.decode(errors='replace')}") from exc
            raise

    def _log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _wait_ready(self, timeout_s: float) -> bool:
        """True once a TCP login works (the connector's path); False if the server exited."""
        import pymysql

        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2)
            except pymysql.err.OperationalError:
                time.sleep(0.05)
                continue
            with conn, conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                self.version = str(cur.fetchone()[0])
            return True
        self.proc.kill()
        self.proc.wait(timeout=30)
        raise RuntimeError(f"MariaDB did not accept connections within {timeout_s:.0f} s:\n{self._log_text()}")

    def admin(self, database: str | None = None) -> Any:
        """A root connection (autocommit, utf8mb4) through the Unix socket, for setting up tables."""
        import pymysql

        return pymysql.connect(unix_socket=str(self.socket), user="root", database=database, charset="utf8mb4",
                               autocommit=True)

    def create_database(self, name: str | None = None) -> str:
        """A new empty utf8mb4 database; returns its name. Names are random unless given."""
        name = name or f"t_{secrets.token_hex(6)}"
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return name

    def create_user(self, database: str, privileges: str = "SELECT", driver: str = "mysql+pymysql") -> str:
        """A new account with ``privileges`` on ``database`` only; returns its SQLAlchemy URL.

        The account is bound to 127.0.0.1, the host the connector connects from, so a login
        proves the grant the connector really uses (no anonymous or wildcard account exists)."""
        user, password = f"u_{secrets.token_hex(4)}", secrets.token_hex(12)
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT {privileges} ON `{database}`.* TO '{user}'@'127.0.0.1'")
        return self.url(database, user, password, driver)

    def url(self, database: str, user: str, password: str, driver: str = "mysql+pymysql") -> str:
        return f"{driver}://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """SIGTERM is mariadbd's clean shutdown; kill only if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[ThrowawayMariaDB]:
    """A MariaDB server for the whole test session; skips when pymysql or the server is missing."""
    pytest.importorskip("pymysql")
    if find_server() is None:
        missing_service("the MariaDB server (mariadbd, mariadb-install-db)", "mariadb-server")
    # No flush at commit: a test server that dies is thrown away anyway, and the tests run faster.
    server = ThrowawayMariaDB().start(innodb_flush_log_at_trx_commit="0", innodb_buffer_pool_size="32M")
    try:
        yield server
    finally:
        server.stop()
