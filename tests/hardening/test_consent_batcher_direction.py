"""Issue 18, "seams": the consent gate and the batcher talk in one direction.

The batcher asks the gate which records may leave (``Batcher.policy`` is ``ConsentGate.policy``); the
packing step (gateway/uplink/packing.py) asks the gate what to announce and has the batcher sign it. The
gate, and the ledgers of the enterprise's word it used to pack, never call the batcher. setup.cfg's
import-linter contract ``consent-before-uplink`` forbids the imports; this test forbids the duck-typed
calls an import contract cannot see (a batcher handed in as an argument), which is how they called into
each other before.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEVER_PACK = ("gateway/consent", "gateway/declarations", "gateway/disputes")
BATCHER_METHODS = frozenset({"pack_once", "pack_all", "pack_pending", "_sign_and_store"})


def calls_into_batcher(source: str) -> list[tuple[int, str]]:
    """(line, what) for every call of a batcher method and every parameter named like a batcher."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in BATCHER_METHODS:
            out.append((node.lineno, f".{node.func.attr}("))
        elif isinstance(node, ast.arg) and "batcher" in node.arg.lower():
            out.append((node.lineno, f"parameter {node.arg}"))
    return out


def test_the_gate_and_the_ledgers_never_call_the_batcher() -> None:
    found = [f"{p.relative_to(ROOT)}:{line}: {what}"
             for top in NEVER_PACK for p in sorted((ROOT / top).rglob("*.py"))
             for line, what in calls_into_batcher(p.read_text(encoding="utf-8"))]
    assert not found, "the batcher asks the gate, never the reverse:\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    "def pack_all(self, batcher, now=None):\n    return batcher.pack_once(extra_records=[])\n",
    "def step(b):\n    b.pack_all()\n",
])
def test_a_planted_call_back_is_caught(source: str) -> None:
    assert calls_into_batcher(source)


def test_the_import_contract_is_declared() -> None:
    """The import half of the rule lives in setup.cfg, where `lint-imports` (CI) reads it."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    contract = cfg["importlinter:contract:consent-before-uplink"]
    assert contract["type"] == "forbidden"
    assert set(contract["source_modules"].split()) == {"gateway.consent", "gateway.declarations", "gateway.disputes"}
    assert contract["forbidden_modules"].split() == ["gateway.uplink"]
