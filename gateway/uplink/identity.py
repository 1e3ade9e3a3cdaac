"""Signing meter identities into the chain: a first sighting or a change of a device's identity.

The pollers read each device's identity registers (gateway/scheduler.py: at start, after a
recovery, daily). Every few seconds this compares what they read with what the gateway last signed
for that device (kept in the store's meta table, so a restart does not re-announce an unchanged
meter) and packs the differences, in a batch of their own, as ``device_identity`` records
(gateway/wire/identity.py). The signed record is what the receiver's duplicate/swap rule reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.wire import identity as wire_identity

if TYPE_CHECKING:
    from gateway.runtime import Gateway

CHECK_INTERVAL_S = 5.0
META_PREFIX = "identity."


def identified_count(pollers: list[Any]) -> int:
    """Devices whose identity registers answered with at least one value (for the health summary)."""
    return sum(1 for p in pollers if getattr(p, "identity", None))


class IdentityReporter:
    """Compares the pollers' identities with the last signed ones and signs the differences."""

    def __init__(self, gw: Gateway, clock: Callable[[], float] = time.time) -> None:
        self.gw = gw
        self.clock = clock
        self.sent = 0
        self._tokens: Any = None

    def device_token(self, name: str) -> str:
        """The device's name as the site's keyed token (gateway/privacy/tokens.py): names stay on site."""
        if self._tokens is None:
            from gateway.privacy.tokens import site_tokeniser

            self._tokens = site_tokeniser(self.gw.state_dir)
        return str(self._tokens.token("device", name)).replace("x_", "d_", 1)

    def _last(self, device: str) -> dict[str, str] | None:
        raw = self.gw.store.meta_get(META_PREFIX + device)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def pending(self) -> list[dict[str, Any]]:
        """The records due now: one per device whose identity was never signed or differs."""
        out = []
        now = self.clock()
        for p in self.gw.scheduler.pollers:
            ident = getattr(p, "identity", None)
            if not ident:
                continue
            last = self._last(p.device.name)
            if last == ident:
                continue
            rec = wire_identity.identity_record(
                device=self.device_token(p.device.name), subject=p.device.asset_name, driver=p.device.driver,
                model_map=p.device.model, ts=now, identity=ident, previous=last)
            out.append({**rec, "_device": p.device.name})
        return out

    def pack_now(self) -> int | None:
        """Sign the due records into one batch; its seq (None: nothing due, or not enrolled)."""
        if self.gw.identity.enterprise_id is None:
            return None
        records = self.pending()
        if not records:
            return None
        from gateway.consent import audit

        names = [r.pop("_device") for r in records]
        seq = self.gw.batcher.pack_once(extra_records=records)
        for name, rec in zip(names, records, strict=True):  # remembered once signed: a crash re-announces, never skips
            self.gw.store.meta_set(META_PREFIX + name, json.dumps(rec["identity"], sort_keys=True))
        audit.record_batches(self.gw.store)
        self.sent += len(records)
        return seq
