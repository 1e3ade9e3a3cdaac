"""Meter identity: a metered device whose meter was swapped, or one meter claimed twice.

Reads the findings the receiver raised at ingest from the gateways' signed ``device_identity``
records (cloud_stub/meter_identity.py):

- ``meter_identity_changed`` with ``serial`` or ``model`` among the changed fields: the meter
  behind a device is not the one first seen (a replacement, or something answering in its place):
  orange, since figures before and after come from different instruments. A firmware-only change
  is an update: info.
- ``meter_serial_duplicate``: one serial claimed by two devices or two gateways: red, since at
  least one claimant's figures do not come from the meter it names.

Every finding lists the devices, the serials and the receiver findings it rests on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules.base import Finding, Rule, register


@register
class MeterIdentity(Rule):
    id = "meter_identity"
    version = 1
    subscore = "data_integrity"
    title = "Meters swapped or claimed twice (signed identity registers)"
    defaults: Mapping[str, Any] = {"swap_severity": "orange", "duplicate_severity": "red"}

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        out: list[Finding] = []
        p0, p1 = ev.period_start, ev.period_end
        swaps = [f for f in ev.chain_findings if f.kind == "meter_identity_changed"]
        dups = [f for f in ev.chain_findings if f.kind == "meter_serial_duplicate"]
        hard = [f for f in swaps if {"serial", "model"} & set(f.detail.get("fields") or [])]
        soft = [f for f in swaps if f not in hard]
        if hard:
            changes = [{"gateway": f.gateway_id, "device": f.detail.get("device"),
                        "old_serial": (f.detail.get("old") or {}).get("serial"),
                        "new_serial": (f.detail.get("new") or {}).get("serial"),
                        "fields": f.detail.get("fields"), "time": f.detail.get("time")} for f in hard]
            devices = sorted({f"{c['gateway']}/{c['device']}" for c in changes})
            out.append(Finding(
                self.id, self.version, str(params["swap_severity"]), self.subscore,
                f"changed:{hard[0].id}-{hard[-1].id}", p0, p1, (),
                {"changes": changes[:50], "finding_ids": [f.id for f in hard][:50]},
                {"swaps": len(hard), "devices": len(devices)}, {"any": 1}, "changed",
                f"The meter behind {len(devices)} device(s) changed {len(hard)} time(s) (serial "
                + ", ".join(f"{c['old_serial']} -> {c['new_serial']}" for c in changes[:5])
                + "): figures before and after come from different instruments."))
        if soft:
            out.append(Finding(
                self.id, self.version, "info", self.subscore, f"firmware:{soft[0].id}-{soft[-1].id}", p0, p1, (),
                {"finding_ids": [f.id for f in soft][:50]}, {"updates": len(soft)}, {}, "changed",
                f"{len(soft)} meter firmware change(s), serials unchanged."))
        if dups:
            serials = sorted({str(f.detail.get("serial")) for f in dups})
            claims = max(int(f.detail.get("claimed_by") or 2) for f in dups)
            out.append(Finding(
                self.id, self.version, str(params["duplicate_severity"]), self.subscore,
                f"duplicate:{dups[0].id}-{dups[-1].id}", p0, p1, (),
                {"serials": serials[:50], "devices": [{"gateway": f.gateway_id, "device": f.detail.get("device"),
                                                        "serial": f.detail.get("serial"),
                                                        "same_enterprise": f.detail.get("same_enterprise"),
                                                        "other_enterprises_devices":
                                                            f.detail.get("other_enterprises_devices")}
                                                       for f in dups][:50],
                 "finding_ids": [f.id for f in dups][:50]},
                {"serials": len(serials), "max_claimants": claims}, {"claimants": 1}, "conflicting",
                f"{len(serials)} meter serial(s) ({', '.join(serials[:5])}) are claimed by more than one device "
                f"(up to {claims}): at least one claimant's figures do not come from the meter it names."))
        return out
