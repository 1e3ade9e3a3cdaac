"""The SQL connector against a real PostgreSQL server: the query runs in a read-only
transaction, so even a statement that would write is refused by the server itself.

Needs PostgreSQL's server binaries (initdb, pg_ctl) and psycopg; skipped otherwise
(the server comes from tests/support/postgres.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.connectors.config import load_connectors
from gateway.connectors.importer import Importer
from gateway.connectors.readers import SourceError, read_sql
from gateway.store import Store
from tests.support.postgres import ThrowawayPostgres, postgres_server  # noqa: F401

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def pg(postgres_server: ThrowawayPostgres) -> Iterator[str]:  # noqa: F811
    url = postgres_server.create_database("erp")
    with psycopg.connect(url) as c:
        c.execute('CREATE TABLE "应收账款" ("发票号" text, "客户" text, "金额" numeric, "开票日期" date, '
                  '"到期日" date, "回款日期" date)')
        c.execute("""INSERT INTO "应收账款" VALUES ('INV-1', '上海汽车零部件有限公司', 10000, '2026-10-01',
                     '2026-10-31', NULL), ('INV-2', '宁波精工机械有限公司', 5000.50, '2026-09-01', '2026-10-01',
                     '2026-10-20')""")
        c.execute("CREATE SEQUENCE s")
    yield url.replace("postgresql://", "postgresql+psycopg://", 1)


QUERY = 'SELECT "发票号", "客户", "金额", "开票日期", "到期日", "回款日期" FROM "应收账款"'


def test_postgres_rows_are_imported(pg: str, tmp_path: Path) -> None:
    from gateway.privacy.tokens import site_tokeniser

    store = Store(tmp_path / "gw" / "s.db", "NORMAL")
    try:
        imp = Importer(store, site_tokeniser(tmp_path / "gw"), "Asia/Shanghai")
        cfg = load_connectors([{"name": "ar", "kind": "sql", "dataset": "receivables", "url": pg, "query": QUERY,
                                "columns": {"invoice_no": "发票号", "customer": "客户", "amount": "金额",
                                            "invoice_date": "开票日期", "due_date": "到期日",
                                            "paid_date": "回款日期"}}])[0]
        [rep] = imp.run(cfg, tmp_path / "gw")
        assert rep.status == "imported" and rep.rows_ok == 2 and rep.quarantined == []
        fields = dict(store.db.execute("SELECT key, fields FROM erp_rows").fetchall())
        assert '"amount": 5000.5' in fields["INV-2"] and '"paid_date": "2026-10-20"' in fields["INV-2"]
        assert "宁波" not in fields["INV-2"]
        [again] = imp.run(cfg, tmp_path / "gw")
        assert again.status == "unchanged"
    finally:
        store.close()


@pytest.mark.parametrize("sql", [
    'WITH d AS (DELETE FROM "应收账款" RETURNING *) SELECT * FROM d',
    "SELECT nextval('s')",
])
def test_the_transaction_is_read_only_on_the_server(pg: str, sql: str) -> None:
    with pytest.raises(SourceError, match="read-only transaction"):
        read_sql(pg, sql, "probe")
    src = read_sql(pg, QUERY, "after")
    assert len(src.rows) == 2  # nothing was deleted
