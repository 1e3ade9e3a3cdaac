"""Clock problems: timestamps are only evidence if the gateway's clock was trustworthy.

Two sources: ``data.clock_synced`` (the kernel's NTP state sampled per window, value 0 =
not synced) and each batch envelope's ``clock`` (``synced`` false, ``implausible`` true).
Severity by the share of unsynced windows / batches; any implausible clock is orange.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import level, r, worst
from cloud_stub.rules.base import Finding, Rule, register


@register
class ClockQuality(Rule):
    id = "clock_quality"
    version = 1
    subscore = "data_integrity"
    title = "Gateway clock not synchronised or implausible"
    defaults: Mapping[str, Any] = {"unsynced_pct": {"yellow": 2.0, "orange": 10.0, "red": 30.0}}

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        lv = params["unsynced_pct"]
        windows = unsynced = 0
        first = None
        for subj in ev.subjects("data.clock_synced"):
            s = ev.series("data.clock_synced", subj)
            if s is None:
                continue
            ok = np.isfinite(s.value)
            bad = ok & (s.value < 0.5)
            windows += int(ok.sum())
            unsynced += int(bad.sum())
            if bad.any():
                t = int(s.start[np.argmax(bad)])
                first = t if first is None else min(first, t)
        live = [b for b in ev.batches if not b.replayed]
        b_unsynced = sum(1 for b in live if b.clock is not None and b.clock.get("synced") is False)
        implausible = sum(1 for b in live if b.clock is not None and b.clock.get("implausible"))
        w_pct = 100 * unsynced / windows if windows else 0.0
        b_pct = 100 * b_unsynced / len(live) if live else 0.0
        sev = worst(level(max(w_pct, b_pct), lv["yellow"], lv["orange"], lv["red"]),
                    "orange" if implausible else None)
        if sev is None:
            return []
        msg = (f"The gateway clock was not synchronised in {unsynced} of {windows} windows ({w_pct:.1f} %) and "
               f"{b_unsynced} of {len(live)} live batches ({b_pct:.1f} %); {implausible} batch(es) had an "
               "implausible clock: timestamps in those periods are weaker evidence.")
        start = first if first is not None else ev.period_start
        return [Finding(self.id, self.version, sev, self.subscore, f"clock:{start}", start, ev.period_end,
                        ("data.clock_synced",),
                        {"windows": windows, "windows_unsynced": unsynced, "batches": len(live),
                         "batches_unsynced": b_unsynced, "batches_implausible": implausible},
                        {"unsynced_windows_pct": r(w_pct, 2), "unsynced_batches_pct": r(b_pct, 2)},
                        {"unsynced_pct": dict(lv), "implausible": "orange"}, "unsynced", msg)]
