"""Issue 18, "seams": the store owns its connection. No module outside gateway/store/ runs SQL on the
gateway's SQLite file, opens one, or reaches into the Store's connection, lock or transaction helper;
locking, transactions and schema live in one place.

The scan is syntactic (``ast``), so it names file and line and needs no import of the modules.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("gateway", "drivers", "inference")
STORE_PACKAGE = "gateway/store/"

# Files allowed one kind of use, and why. Keep it short: each entry is a hole in the rule.
ALLOWED: dict[str, frozenset[str]] = {
    # Its SQLAlchemy connection is the enterprise's MES/ERP database (read-only SQL connectors), not the
    # gateway's store: `.execute(` there runs the profile's query against that external database.
    "gateway/connectors/readers.py": frozenset({"execute"}),
}

SQL_METHODS = frozenset({"execute", "executemany", "executescript"})
# The Store's connection (``db``) and its private lock and transaction internals. ``store.tx(...)`` is
# public and allowed: domain code decides where a transaction begins and ends, the store runs it.
STORE_PRIVATE = frozenset({"_lock", "_tx", "_rollback"})


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def _ends_with_store(node: ast.expr) -> bool:
    """``store``, ``self.store``, ``gw.store``, ``store_or_path`` ...: an expression naming a store."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "store" in name.lower()


def scan_source(source: str, path: str = "<source>") -> list[Violation]:
    """Every use of SQL or of the store's connection in ``source``."""
    tree = ast.parse(source, filename=path)
    sqlite_names = {"sqlite3"}  # names bound to the sqlite3 module
    connect_names: set[str] = set()  # names bound to sqlite3.connect
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            sqlite_names |= {a.asname or a.name for a in node.names if a.name == "sqlite3"}
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlite3":
            connect_names |= {a.asname or a.name for a in node.names if a.name == "connect"}
    out: list[Violation] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in SQL_METHODS:
                out.append(Violation(path, node.lineno, "execute", f".{func.attr}( runs SQL"))
            elif (isinstance(func, ast.Attribute) and func.attr == "connect" and isinstance(func.value, ast.Name)
                  and func.value.id in sqlite_names) or (isinstance(func, ast.Name) and func.id in connect_names):
                out.append(Violation(path, node.lineno, "connect", "sqlite3.connect( opens a database"))
        elif isinstance(node, ast.Attribute):
            if node.attr == "db":
                out.append(Violation(path, node.lineno, "db", ".db is the Store's connection"))
            elif node.attr in STORE_PRIVATE and _ends_with_store(node.value):
                out.append(Violation(path, node.lineno, "private", f".{node.attr} is the Store's own"))
    return sorted(out, key=lambda v: v.line)


TX_WORDS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
# Where a transaction may be begun and ended by hand: the one helper (``Store.tx``) and its rollback.
TX_HELPER = frozenset({("gateway/store/__init__.py", "tx"), ("gateway/store/__init__.py", "_rollback")})


def _leading_text(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return _leading_text(node.values[0])
    return ""


def transaction_statements(source: str, path: str = "<source>") -> list[tuple[int, str]]:
    """(line, enclosing function) of every ``.execute("BEGIN ...")``, COMMIT, ROLLBACK, ... by hand."""
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                    and child.func.attr in SQL_METHODS and child.args
                    and _leading_text(child.args[0]).lstrip().upper().startswith(TX_WORDS)):
                out.append((child.lineno, func))
            visit(child, inner)

    visit(ast.parse(source, filename=path), "<module>")
    return out


def _modules() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for top in SCANNED for p in (ROOT / top).rglob("*.py")
                  if "__pycache__" not in p.parts)


def test_no_sql_outside_the_store() -> None:
    found: list[Violation] = []
    for rel in _modules():
        if rel.startswith(STORE_PACKAGE):
            continue
        allowed = ALLOWED.get(rel, frozenset())
        found += [v for v in scan_source((ROOT / rel).read_text(encoding="utf-8"), rel) if v.kind not in allowed]
    assert not found, ("SQL outside gateway/store/ (move it into a store module with a name that says what it "
                       "holds, and call that):\n" + "\n".join(map(str, found)))


def test_one_transaction_helper() -> None:
    """Transactions begin and end in ``Store.tx`` only (everywhere else: ``with store.tx(...)``), so the
    lock, BEGIN, COMMIT and the rollback that does not mask an error are written once."""
    found = [f"{rel}:{line}: in {func}()" for rel in _modules()
             for line, func in transaction_statements((ROOT / rel).read_text(encoding="utf-8"), rel)
             if (rel, func) not in TX_HELPER]
    assert not found, "BEGIN/COMMIT/ROLLBACK by hand (use `with store.tx(...)`):\n" + "\n".join(found)
    helper = transaction_statements((ROOT / "gateway/store/__init__.py").read_text(encoding="utf-8"))
    assert {func for _, func in helper} == {"tx", "_rollback"}  # the scan sees the helper's own


def test_a_hand_written_transaction_is_caught() -> None:
    source = ("def append(store):\n"
              "    store.db.execute('BEGIN IMMEDIATE')\n"
              "    store.db.execute(f'  commit')\n"
              "    store.db.execute('SELECT 1')\n")
    assert transaction_statements(source) == [(2, "append"), (3, "append")]


def test_the_store_package_itself_is_scanned_as_having_sql() -> None:
    """The scan finds what it looks for in real code: the store's own SQL, connection and lock."""
    kinds = {v.kind for p in sorted((ROOT / STORE_PACKAGE).glob("*.py")) for v in scan_source(p.read_text("utf-8"))}
    assert {"execute", "connect", "db", "private"} <= kinds


@pytest.mark.parametrize(("source", "kind", "line"), [
    ("def f(store):\n    store.db.execute('DELETE FROM outbox')\n", "execute", 2),
    ("x = 1\ncur.executemany('INSERT INTO t VALUES(?)', rows)\n", "execute", 2),
    ("conn.executescript('DROP TABLE meta')\n", "execute", 1),
    ("import sqlite3\nsqlite3.connect('edgeproof.db')\n", "connect", 2),
    ("import sqlite3 as sq\n\n\nsq.connect('edgeproof.db')\n", "connect", 4),
    ("from sqlite3 import connect as open_db\nopen_db('edgeproof.db')\n", "connect", 2),
    ("rows = gw.store.db\n", "db", 1),
    ("with self.store._lock:\n    pass\n", "private", 1),
    ("with store._tx('IMMEDIATE'):\n    pass\n", "private", 1),
])
def test_a_planted_violation_is_caught_with_its_line(source: str, kind: str, line: int) -> None:
    found = scan_source(source, "planted.py")
    assert [(v.kind, v.line) for v in found if v.kind == kind] == [(kind, line)], found
    assert str(found[0]).startswith("planted.py:")


def test_clean_code_passes() -> None:
    source = ("from gateway.store import outbox as outbox_db\n"
              "def f(store, lock):\n"
              "    with store.tx('IMMEDIATE'):\n"
              "        h = outbox_db.batch_hash(store, 3)\n"
              "    with self._lock:\n"  # another class's own lock
              "        pass\n"
              "    return h, store.meta_get('k')\n")
    assert scan_source(source) == []


def test_allowed_files_exist() -> None:
    for rel in ALLOWED:
        assert (ROOT / rel).is_file(), f"{rel} is listed in test_store_owns_sql.py but does not exist"

