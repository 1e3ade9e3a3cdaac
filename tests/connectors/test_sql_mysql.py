"""The SQL connector against a real MariaDB server (mysql+pymysql:// URLs over loopback TCP).

The query runs in a read-only session, so even a statement that would write is refused by
the server itself, DDL included: MySQL commits DDL outside the transaction it was sent in.
The refusal tests use an account with every right on the database, so nothing but the
read-only session can be what stops the write; the import uses a SELECT-only account, as a
site should.

Needs MariaDB's server (mariadbd, mariadb-install-db) and pymysql; skipped otherwise
(the server comes from tests/support/mariadb.py; scripts/sysdeps.sh installs it for CI).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.connectors.config import load_connectors
from gateway.connectors.importer import Importer
from gateway.connectors.readers import SourceError, read_sql
from tests.support.mariadb import ThrowawayMariaDB, mariadb_server  # noqa: F401

pymysql = pytest.importorskip("pymysql")

# Bare identifiers: in MySQL "double quotes" make a string literal, not a column name.
QUERY = "SELECT 发票号, 客户, 金额, 开票日期, 到期日, 回款日期 FROM 应收账款"
COLUMNS = {"invoice_no": "发票号", "customer": "客户", "amount": "金额", "invoice_date": "开票日期",
           "due_date": "到期日", "paid_date": "回款日期"}


@dataclass
class Erp:
    server: ThrowawayMariaDB
    db: str
    reader: str  # URL of an account that may only SELECT: what a site configures
    writer: str  # URL of an account with every right on the database

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a write could change: the tables, the rows, the audit log, the sequence."""
        with self.server.admin(self.db) as conn, conn.cursor() as cur:
            out: list[Any] = []
            for sql in ("SHOW FULL TABLES", "SELECT * FROM 应收账款 ORDER BY 发票号", "SELECT COUNT(*) FROM 审计",
                        "SELECT next_not_cached_value FROM 发票序号"):
                cur.execute(sql)
                out.append(cur.fetchall())
            return tuple(out)


@pytest.fixture
def erp(mariadb_server: ThrowawayMariaDB) -> Erp:  # noqa: F811
    db = mariadb_server.create_database()
    with mariadb_server.admin(db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE 应收账款 (发票号 varchar(32) PRIMARY KEY, 客户 varchar(100), 金额 decimal(12,2), "
                    "开票日期 date, 到期日 date, 回款日期 date)")
        cur.execute("""INSERT INTO 应收账款 VALUES ('INV-1', '上海汽车零部件有限公司', 10000, '2026-10-01',
                       '2026-10-31', NULL), ('INV-2', '宁波精工机械有限公司', 5000.50, '2026-09-01', '2026-10-01',
                       '2026-10-20')""")
        cur.execute("CREATE TABLE 审计 (n int)")
        cur.execute("CREATE SEQUENCE 发票序号")
        # A function a SELECT can call, which writes: no writing keyword in the query itself.
        cur.execute("CREATE FUNCTION 记一笔() RETURNS int MODIFIES SQL DATA "
                    "BEGIN INSERT INTO 审计 VALUES (1); RETURN 1; END")
    return Erp(mariadb_server, db, mariadb_server.create_user(db, "SELECT"),
               mariadb_server.create_user(db, "ALL PRIVILEGES"))


def sql_connector(url: str, query: str = QUERY) -> Any:
    return load_connectors([{"name": "ar", "kind": "sql", "dataset": "receivables", "url": url, "query": query,
                             "columns": COLUMNS}])[0]


@pytest.mark.parametrize("scheme", ["mysql+pymysql", "mariadb+pymysql"])
def test_mysql_rows_are_imported(erp: Erp, importer: Importer, tmp_path: Path, scheme: str) -> None:
    # The URL as the docs show it: no ?charset=, the driver's utf8mb4 default carries the Chinese names.
    cfg = sql_connector(erp.reader.replace("mysql+pymysql", scheme, 1))
    [rep] = importer.run(cfg, tmp_path / "gw")
    assert rep.error is None
    assert rep.status == "imported" and rep.rows_ok == 2 and rep.quarantined == []
    fields = dict(importer.store.db.execute("SELECT key, fields FROM erp_rows").fetchall())
    assert '"amount": 5000.5' in fields["INV-2"] and '"amount": 10000' in fields["INV-1"]
    assert '"paid_date": "2026-10-20"' in fields["INV-2"] and '"invoice_date": "2026-10-01"' in fields["INV-1"]
    assert "宁波" not in fields["INV-2"]  # the customer is tokenised
    [again] = importer.run(cfg, tmp_path / "gw")
    assert again.status == "unchanged"


@pytest.mark.parametrize("sql", [
    "INSERT INTO 应收账款 (发票号) VALUES ('INV-9')",
    "DELETE FROM 应收账款",
    "SELECT NEXTVAL(发票序号)",
    "SELECT 记一笔()",
    # DDL: MySQL commits the open transaction first, so only a read-only *session* refuses these
    "TRUNCATE TABLE 应收账款",
    "DROP TABLE 审计",
    "CREATE TABLE 新表 (a int)",
])
def test_the_session_is_read_only_on_the_server(erp: Erp, sql: str) -> None:
    before = erp.snapshot()
    with pytest.raises(SourceError, match="Cannot execute statement in a READ ONLY transaction"):
        read_sql(erp.writer, sql, "probe")
    assert erp.snapshot() == before
    assert len(read_sql(erp.writer, QUERY, "after").rows) == 2


def test_a_query_that_passes_the_profile_check_is_still_refused(erp: Erp, importer: Importer, tmp_path: Path) -> None:
    """The profile's keyword check cannot see inside a function: the server is the last word."""
    before = erp.snapshot()
    cfg = sql_connector(erp.writer, QUERY + " WHERE 记一笔() = 1")  # load_connectors accepts it
    [rep] = importer.run(cfg, tmp_path / "gw")
    assert rep.status == "failed" and "READ ONLY transaction" in (rep.error or "")
    assert erp.snapshot() == before
    assert importer.store.db.execute("SELECT COUNT(*) FROM erp_rows").fetchone()[0] == 0


def test_a_wrong_password_fails_the_connector_not_the_run(erp: Erp, importer: Importer, tmp_path: Path) -> None:
    user_pw, host = erp.reader.split("://", 1)[1].split("@", 1)
    user = user_pw.split(":", 1)[0]
    [rep] = importer.run(sql_connector(f"mysql+pymysql://{user}:not-the-password@{host}"), tmp_path / "gw")
    assert rep.status == "failed"
    assert "Access denied for user" in (rep.error or "") and "not-the-password" not in (rep.error or "")


def test_an_unreachable_server_is_a_source_error() -> None:
    with socket.socket() as s:  # bound but not listening: a connection to it is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(SourceError, match="Can't connect to MySQL server on '127.0.0.1'"):
            read_sql(f"mysql+pymysql://reader:pw@127.0.0.1:{port}/erp", QUERY, "down")


def test_a_url_without_an_installed_driver_is_a_source_error(erp: Erp) -> None:
    """``mysql://`` means the MySQLdb driver, which the erp extra does not install."""
    try:
        import MySQLdb  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        pytest.skip("MySQLdb is installed here: mysql:// would connect")
    with pytest.raises(SourceError, match="no database driver .*mysql\\+pymysql://"):
        read_sql(erp.reader.replace("mysql+pymysql://", "mysql://", 1), QUERY, "nodriver")
