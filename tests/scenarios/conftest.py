"""Scenario histories through the whole product, once per session.

generate (gateway/replay/scenarios.py) -> a replay identity per enterprise, `edgeproof init`
+ `enroll` against a real receiver on loopback -> `edgeproof replay` in its own process ->
cloud_stub.analysis.analyse over the replayed period. Each scenario is built on first use and
shared by every test that asks for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud_stub.analysis import analyse
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from tests.replay.replay_helpers import LiveReceiver, replay_identity, run_replay, start_receiver

DAYS = 35  # five weeks from Monday 2026-09-07, National Day week included
SEED = 1
INTERVAL_S = 300


@dataclass
class History:
    name: str
    enterprise: str
    gateway: str
    data: Path
    meta: dict[str, Any]
    summary: dict[str, Any]
    report: dict[str, Any]

    def findings(self, rule: str | None = None, severity: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self.report["findings"] if (rule is None or f["rule"] == rule)
                and (severity is None or f["severity"] == severity)]

    def day(self, offset: int) -> date:
        return date.fromisoformat(self.meta["start"]) + timedelta(days=offset)


@pytest.fixture(scope="session")
def scenario_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveReceiver]:
    r = start_receiver(tmp_path_factory.mktemp("scenario-receiver"))
    yield r
    r.stop()


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory, scenario_receiver: LiveReceiver) -> Callable[[str], History]:
    built: dict[str, History] = {}

    def get(name: str) -> History:
        if name not in built:
            root = tmp_path_factory.mktemp(f"scenario-{name}")
            data = root / "data"
            meta = write_scenario(ScenarioConfig(scenario=name, days=DAYS, seed=SEED, interval_s=INTERVAL_S), data)
            ent, gw = f"ent-{name.replace('_', '-')}", f"{name.replace('_', '-')}-history"
            replay_identity(scenario_receiver, root / "state", ent, gw)
            summary = run_replay(scenario_receiver, root / "state", data)
            tz = ZoneInfo(meta["timezone"])
            end = date.fromisoformat(meta["end"]) + timedelta(days=1)
            as_of = int(datetime(end.year, end.month, end.day, tzinfo=tz).timestamp())
            report = analyse(scenario_receiver.rdb, ent, as_of=as_of, days=DAYS, signing_key=scenario_receiver.key)
            built[name] = History(name, ent, gw, data, meta, summary, report)
            print(f"\n{name}: {json.dumps({k: report[k] for k in ('score', 'grade', 'warning_level')})} "
                  f"{[(f['rule'], f['severity']) for f in report['findings']]}; replay {summary['elapsed_s']} s")
        return built[name]

    return get
