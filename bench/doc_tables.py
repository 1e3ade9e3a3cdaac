"""Benchmark tables in the docs are generated from each bench's JSON result, never typed.

A bench with ``--write-docs`` (after a run, or ``--render RESULT.json`` without one) calls
``write_block(name, markdown)``, which replaces the text between

    <!-- bench:NAME:begin (generated: bench/NAME.py --write-docs) -->
    <!-- bench:NAME:end -->

in every doc that has those markers (docs/benchmarks.md and bench/README.md), so the two
cannot disagree. Results live in bench/results/NAME.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "benchmarks.md", ROOT / "bench" / "README.md")
RESULTS = ROOT / "bench" / "results"


def markers(name: str) -> tuple[str, str]:
    return (f"<!-- bench:{name}:begin (generated: bench/{name}.py --write-docs) -->", f"<!-- bench:{name}:end -->")


def write_block(name: str, body: str, docs: tuple[Path, ...] = DOCS) -> list[Path]:
    """Replace the block in every doc that has the markers; returns the docs written."""
    begin, end = markers(name)
    written = []
    for path in docs:
        text = path.read_text(encoding="utf-8")
        if begin not in text or end not in text:
            continue
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        path.write_text(f"{head}{begin}\n{body.strip()}\n{end}{tail}", encoding="utf-8")
        written.append(path)
    if not written:
        raise SystemExit(f"no doc has the markers {begin} ... {end}")
    return written


def save_result(name: str, result: dict[str, Any], out: Path | None = None) -> Path:
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_result(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def host_line(result: dict[str, Any]) -> str:
    """Where and when a result was measured (a figure without its host and load means little)."""
    load = result.get("loadavg") or result.get("host", {}).get("load_avg_1m")
    if isinstance(load, list):
        load = load[0]
    bits = [f"measured {result.get('when', '?')}"]
    if result.get("commit"):
        bits.append(f"commit {str(result['commit'])[:10]}")
    if load is not None:
        bits.append(f"load average {float(load):.1f} on {result.get('host', {}).get('cores', 2)} cores")
    return "_" + ", ".join(bits) + f"; from `bench/results/{result.get('bench', '?')}.json`._"
