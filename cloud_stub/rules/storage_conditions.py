"""Storage-condition excursions: minutes the pledged goods' rooms spent outside their declared range.

``env.<quantity>_outside_min`` exists only for rooms with a declared storage range
(``[collateral] storage``), so every subject is a storage room. Per room and quantity,
minutes outside are summed per local day; a day counts as an excursion day above
``day_minutes``. Severity by the total minutes outside (``minutes`` thresholds), one step
up when excursions happened on ``persist_days`` or more days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import day_label, level, r, step
from cloud_stub.rules.base import Finding, Rule, register


@register
class StorageConditions(Rule):
    id = "storage_conditions"
    version = 1
    subscore = "collateral_safety"
    title = "Storage-condition excursions"
    defaults: Mapping[str, Any] = {"day_minutes": 30.0, "minutes": {"yellow": 60.0, "orange": 240.0, "red": 720.0},
                                   "persist_days": 3}

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        out = []
        for name in ev.names():
            if not (name.startswith("env.") and name.endswith("_outside_min")):
                continue
            for subj in ev.subjects(name):
                daily = ev.daily(name, [subj])
                if daily is None:
                    continue
                total = float(daily.value.sum())
                lv = params["minutes"]
                sev = level(total, lv["yellow"], lv["orange"], lv["red"])
                if sev is None:
                    continue
                starts, lens = ev.day_windows()
                bad = np.flatnonzero(daily.value > params["day_minutes"])
                if bad.size >= params["persist_days"]:
                    sev = step(sev, +1)
                first = int(starts[bad[0]]) if bad.size else ev.period_start
                qty = name[len("env."):-len("_outside_min")]
                msg = (f"The storage room {subj} was outside its {qty} range for {total:.0f} min in the period, on "
                       f"{bad.size} day(s) more than {params['day_minutes']:.0f} min.")
                out.append(Finding(
                    self.id, self.version, sev, self.subscore, f"{subj}:{qty}:{first}", first,
                    int(starts[bad[-1]] + lens[bad[-1]]) if bad.size else ev.period_end, (name,),
                    {"minutes_outside": r(total, 1),
                     "days": [{"day": day_label(starts[i]), "minutes": r(daily.value[i], 1)} for i in bad[:10]]},
                    {"minutes_outside": r(total, 1), "excursion_days": int(bad.size)},
                    {"minutes": dict(lv), "day_minutes": params["day_minutes"], "persist_days": params["persist_days"]},
                    "outside", msg))
        return out
