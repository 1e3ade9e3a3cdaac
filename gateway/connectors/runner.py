"""Running the connectors inside the gateway: scan, import, recompute enterprise indicators.

Imports run in a worker thread (a large Excel file must not stall polling). After each
scan the enterprise indicators an import changed are recomputed: flows (output, shipments)
in the windows of the days it touched, balances (receivables ageing, open orders) from the
earliest day it touched up to yesterday, as every later day depends on it; plus every
indicator of each day that closed since the last scan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.connectors.config import ConnectorCfg, load_connectors
from gateway.connectors.importer import Importer, ImportReport
from gateway.connectors.products import (
    PROFILE_CONNECTOR,
    ProductsCfg,
    forget_profile_items,
    load_products,
    master_declared,
    profile_connector,
    profile_source,
)
from gateway.indicators.enterprise import closed_days_since, compute_windows, recompute_plan
from gateway.privacy.policy import load_privacy
from gateway.privacy.tokens import site_tokeniser

log = logging.getLogger("edgeproof.connectors")


class ConnectorRunner:
    def __init__(self, profile: Any, state_dir: str | Path, store: Any, settle_s: float = 2.0,
                 file: str = "(profile)") -> None:
        self.profile = profile
        self.state_dir = Path(state_dir)
        self.store = store
        self.settle_s = settle_s
        # The product master is read first (its connectors lead), so shipment rows are checked
        # against the newest one in the same scan.
        self.cfgs: list[ConnectorCfg] = sorted(load_connectors(profile.connectors, file),
                                               key=lambda c: c.dataset != "products")
        self.products: ProductsCfg = load_products(getattr(profile, "products", {}) or {}, file)
        privacy = load_privacy(profile.privacy, file)
        self.importer = Importer(store, site_tokeniser(self.state_dir, privacy.key_file), profile.site.timezone)
        self.importer.products = self.products
        self.importer.master_declared = master_declared(self.products, self.cfgs)
        self.tz = ZoneInfo(profile.site.timezone)
        self._next: dict[str, float] = {}
        self._forgot = False
        self.last_reports: list[ImportReport] = []

    def run_once(self, now: float | None = None, force: bool = False) -> list[ImportReport]:
        now = time.time() if now is None else now
        reports: list[ImportReport] = []
        if self.products.items:  # the profile's own master: imported like an export, unchanged = no-op
            rep = self.importer.import_source(profile_connector(), profile_source(self.products))
            if rep.status != "unchanged":
                reports.append(rep)
        elif not self._forgot:
            self._forgot = True
            removed, days = forget_profile_items(self.store)
            if removed:
                reports.append(ImportReport(PROFILE_CONNECTOR, "(profile [products])", removed=removed, days=days,
                                            dataset="products"))
        for cfg in self.cfgs:
            if not force and self._next.get(cfg.name, 0.0) > now:
                continue
            self._next[cfg.name] = now + cfg.scan_interval_s
            try:
                reports.extend(self.importer.run(cfg, self.state_dir, self.settle_s))
            except Exception as exc:  # one broken connector must not stop the others
                log.exception("connector failed", extra={"connector": cfg.name, "error": str(exc)})
                reports.append(ImportReport(cfg.name, cfg.name, "failed", error=str(exc)))
        for r in reports:
            if r.status == "failed":
                log.warning("import failed", extra={"connector": r.connector, "source": r.source, "error": r.error})
            elif r.status == "imported":
                log.info("imported", extra=r.as_dict())
        self.recompute(reports, now)
        self.last_reports = reports
        return reports

    def recompute(self, reports: list[ImportReport], now: float) -> tuple[int, int]:
        """Recompute what the imports changed, and every indicator of the days that closed since
        the last run (``recompute_plan``): a flow only in the windows holding a changed day, a
        balance from the first changed day to yesterday. Window by window, the rows streamed or
        summed by the store: memory does not grow with the export or the history."""
        yesterday = datetime.fromtimestamp(now, self.tz).date() - timedelta(days=1)
        closed = closed_days_since(self.store, self.profile, now)
        changed: dict[str, set[str]] = {}
        for r in reports:
            if r.days:
                # The master's days are its shipments' days (importer, forget_profile_items).
                changed.setdefault(r.dataset, set()).update(r.days)
        plan = recompute_plan(self.profile, closed, changed, now, store=self.store)
        if not plan:
            if closed or changed:
                self.store.meta_set("ent.wm.day", yesterday.isoformat())
            return 0, 0
        new, revised = compute_windows(self.store, self.profile, plan, self.tz)
        self.store.meta_set("ent.wm.day", yesterday.isoformat())
        if new or revised:
            log.info("enterprise indicators", extra={"new": new, "revised": revised})
        return new, revised

    async def run_forever(self) -> None:
        """The gateway's connector task: scan at each connector's interval, off the event loop."""
        if not self.cfgs:
            return
        step = max(1.0, min(c.scan_interval_s for c in self.cfgs) / 2)
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception as exc:
                log.exception("connector step failed; will retry", extra={"error": str(exc)})
            await asyncio.sleep(step)
