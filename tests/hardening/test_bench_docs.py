"""Issue 18: benchmark tables in the docs are generated from each bench's JSON result, so
bench/README.md and docs/benchmarks.md cannot disagree (and neither can drift from the result)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = ("gateway_poll", "modbus_rtu_cycle", "import_large")


def _module(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _block(path: Path, name: str) -> str:
    from bench_markers import markers  # type: ignore[import-not-found]

    begin, end = markers(name)
    text = path.read_text(encoding="utf-8")
    assert begin in text and end in text, f"{path}: no generated block for {name}"
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


@pytest.fixture(autouse=True, scope="module")
def _markers() -> None:
    spec = importlib.util.spec_from_file_location("bench_markers", ROOT / "bench" / "doc_tables.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules["bench_markers"] = mod


@pytest.mark.parametrize("name", BENCHES)
def test_both_docs_hold_the_table_rendered_from_the_saved_result(name: str) -> None:
    readme, benchmarks = _block(ROOT / "bench" / "README.md", name), _block(ROOT / "docs" / "benchmarks.md", name)
    assert readme == benchmarks, f"{name}: bench/README.md and docs/benchmarks.md disagree"
    result = ROOT / "bench" / "results" / f"{name}.json"
    assert result.exists(), f"run bench/{name}.py --write-docs (no {result})"
    mod = _module(name)
    assert mod.render(mod.load_result(result)).strip() == readme, f"{name}: the docs are not the saved result"
