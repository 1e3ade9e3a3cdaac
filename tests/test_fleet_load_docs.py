"""docs/benchmarks.md's fleet-load table is bench/fleet_load.py's rendering of the saved result, so the
figures quoted and the JSON a reader can check cannot drift apart; the saved run lost and doubled nothing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():  # noqa: ANN202 - a script, loaded by path
    spec = importlib.util.spec_from_file_location("fleet_load", ROOT / "bench" / "fleet_load.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_docs_table_is_the_saved_result() -> None:
    bench = _bench()
    res = json.loads((ROOT / "bench" / "results" / "fleet_load.json").read_text())
    doc = (ROOT / "docs" / "benchmarks.md").read_text()
    between = doc.split(bench.BEGIN, 1)[1].split(bench.END, 1)[0]
    assert between.strip() == bench.table(res).strip()


def test_the_saved_runs_lost_and_doubled_nothing() -> None:
    for path in sorted((ROOT / "bench" / "results").glob("fleet_load*.json")):
        res = json.loads(path.read_text())
        i = res["integrity"]
        assert (i["lost_batches"], i["unacknowledged"], i["doubled_records"], i["doubled_batches"]) == (0, 0, 0, 0), \
            path
        ks = res.get("receivers", [1, 2])  # each K the run was asked for has both phases
        assert {(r["phase"], r["k"]) for r in res["results"]} == {(ph, k) for ph in ("steady", "outage") for k in ks}, \
            path
        assert all(r["drained"] for r in res["results"] if r["phase"] == "outage"), path
