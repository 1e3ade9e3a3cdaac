"""Running the connectors inside the gateway: scan, import, recompute enterprise indicators.

Imports run in a worker thread (a large Excel file must not stall polling). After each
scan the enterprise indicators are recomputed from the earliest day an import touched up
to yesterday (balances such as receivables ageing depend on every later day), plus any
day that closed since the last scan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date, datetime, timedelta
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
from gateway.indicators.enterprise import MAX_DAYS_BACK, closed_days_since, compute_enterprise
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
                reports.append(ImportReport(PROFILE_CONNECTOR, "(profile [products])", removed=removed, days=days))
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
        yesterday = datetime.fromtimestamp(now, self.tz).date() - timedelta(days=1)
        days: set[date] = set(closed_days_since(self.store, self.profile, now))
        touched = [date.fromisoformat(d) for r in reports for d in r.days]
        if touched:
            d = max(min(touched), yesterday - timedelta(days=MAX_DAYS_BACK))
            while d <= yesterday:
                days.add(d)
                d += timedelta(days=1)
            days.update(t for t in touched if t > yesterday)  # today's rows: their month when it closes
        if not days:
            return 0, 0
        new, revised = compute_enterprise(self.store, self.profile, sorted(days), now)
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
