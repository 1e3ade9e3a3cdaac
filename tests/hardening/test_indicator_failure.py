"""Issue 18: an indicator whose computation raises gives its window a null value flagged
``no_data`` and ``computation_failed`` with the reason in detail, instead of passing the window
silently (the bank would see a gap with no reason); the other indicators are unaffected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.indicators.base import COMPUTATION_FAILED, Indicator, WindowContext
from gateway.indicators.engine import IndicatorEngine
from gateway.profile import load_profile
from gateway.profile.load import resolve_model
from gateway.store import Store
from tests.indicators.test_engine_counters import PROFILE, T0


class Broken(Indicator):
    """A plug-in indicator with a bug: it raises on every window it applies to."""

    name = "energy.broken_test"
    category = "energy"
    unit = "kWh"
    requires = ("energy.total_kwh",)

    def compute(self, ctx: WindowContext) -> list[Any]:
        raise ZeroDivisionError("secret-customer-name / 0")


def test_a_raising_indicator_gives_a_null_no_data_window_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(PROFILE.format(window="15m", poll=60, grace=5))
    prof = load_profile(tmp_path / "p.toml")
    store = Store(tmp_path / "s.db", "NORMAL")
    try:
        engine = IndicatorEngine(store, prof, {"m": resolve_model(prof, prof.devices[0]).points})
        engine.indicators = {**engine.indicators, Broken.name: Broken()}
        kwh = store.point("m", "import_kwh", "energy.total_kwh", "kWh").id
        store.meta_set("ind.wm.900", str(T0))
        for i in range(17):
            store.add_readings([(T0 + 60 * i, kwh, 1000.0 + i, "good")], [(T0 + 60 * i, "m", 1, None)])
        engine.run_once(now=T0 + 900 + 60)
        with store._lock:
            rows = {n: (v, json.loads(q), json.loads(d)) for n, v, q, d in store.db.execute(
                "SELECT name, value, quality, detail FROM indicators WHERE window_start=?", (T0,))}
    finally:
        store.close()
    value, quality, detail = rows[Broken.name]
    assert value is None and quality == ["no_data", COMPUTATION_FAILED]
    assert detail == {"reason": COMPUTATION_FAILED, "error": "ZeroDivisionError"}  # not the message
    assert rows["energy.kwh"][0] is not None  # the others still computed
