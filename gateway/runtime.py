"""The gateway process: profile -> drivers -> scheduler -> store -> indicators -> batches -> uplink."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import msgspec

from drivers.support.base import Driver
from drivers.support.bus import BusHandle
from gateway.consent.gate import build_gate
from gateway.filemodes import private_dir
from gateway.identity import Identity, load_identity
from gateway.indicators.engine import IndicatorEngine
from gateway.profile.load import load_driver_module, resolve_model
from gateway.profile.schema import Profile
from gateway.scheduler import Scheduler, cancel_and_wait
from gateway.simulate import start_twins
from gateway.store import Store
from gateway.uplink.batcher import Batcher, RecordPolicy
from gateway.uplink.heads import HeadSigner
from gateway.uplink.health import HealthReporter
from gateway.uplink.identity import CHECK_INTERVAL_S, IdentityReporter
from gateway.uplink.packing import pack_step
from gateway.uplink.sender import Sender
from gateway.uplink.transport import Transport

log = logging.getLogger("edgeproof.gateway")


def make_transport(profile: Profile, identity: Identity) -> Transport | None:
    up = profile.uplink
    if up.transport == "none":
        return None
    if up.transport == "mqtt":
        from gateway.uplink.mqtt import MqttTransport

        return MqttTransport(up.mqtt, identity.gateway_id, up.timeout_s, up.compression,
                             up.url or (identity.enrollment or {}).get("receiver_url"))
    from gateway.uplink.http import HttpTransport

    url = up.url or (identity.enrollment or {}).get("receiver_url")
    if not url:
        raise RuntimeError("uplink.url is not set and the gateway is not enrolled with a receiver")
    return HttpTransport(url, up.timeout_s, compression=up.compression)


async def build_drivers(profile: Profile, simulate: bool, state_dir: Path | None = None
                        ) -> tuple[list[Driver], dict[str, BusHandle], list[Any], list[Any]]:
    """Drivers for every enabled device (against emulated twins when simulating).

    Drivers that persist totals of their own (pulse counts, geofence exits) declare a
    ``state_dir`` option; they get the gateway's state directory unless the profile sets
    one, so a gateway run with ``--state`` keeps its counters beside its store (emulated
    twins point theirs at a temporary directory).
    """
    buses = {b.name: BusHandle(b) for b in profile.buses}
    items = [(d, resolve_model(profile, d)) for d in profile.devices if d.enabled]
    overrides: dict[str, Any] = {}
    stoppers: list[Any] = []
    emulators: list[Any] = []
    if simulate:
        overrides, stoppers, emulators = await start_twins(items, buses)
    drivers: list[Driver] = []
    for dev, model in items:
        dev = overrides.get(dev.name, dev)
        mod = load_driver_module(dev.driver)
        fields = getattr(getattr(mod, "Options", None), "__struct_fields__", ())
        if state_dir is not None and "state_dir" in fields and "state_dir" not in dev.options:
            dev = msgspec.structs.replace(dev, options={**dev.options, "state_dir": str(state_dir)})
        bus = buses.get(dev.bus) if dev.bus else None
        drivers.append(mod.DRIVER(dev, model, bus, bus.cfg if bus else None))
    return drivers, buses, stoppers, emulators


class Gateway:
    def __init__(self, profile: Profile, state_dir: Path, simulate: bool | None = None,
                 windows: list[str] | None = None, grace_s: float | None = None,
                 policy: RecordPolicy | None = None, transport: Transport | None = None,
                 exclusive: bool = True) -> None:
        self.profile = profile
        self.state_dir = private_dir(state_dir)
        self.simulate = profile.site.simulated if simulate is None else simulate
        self.windows = windows
        self.grace_s = grace_s
        self.policy = policy
        self._transport = transport
        self.exclusive = exclusive
        self.tasks: list[asyncio.Task[Any]] = []
        self.stoppers: list[Any] = []
        self.emulators: list[Any] = []
        self.started_at = time.time()
        self.indicators_made = 0
        self.status_server: Any = None
        # Packing runs in worker threads; seq = outbox head + 1 must not be read by two at once.
        self.pack_lock = asyncio.Lock()
        self.identity_check_s = CHECK_INTERVAL_S  # how often read identities are compared with the signed ones

    async def start(self) -> None:
        store_path = Path(self.profile.store.path)
        if not store_path.is_absolute():
            store_path = self.state_dir / store_path
        self.store = Store(store_path, self.profile.store.synchronous)
        if self.exclusive:
            self.store.acquire_exclusive()
        self.boot = self.store.bump("boot")
        self.identity = load_identity(self.state_dir)
        drivers, self.buses, self.stoppers, self.emulators = await build_drivers(
            self.profile, self.simulate, self.state_dir)
        self.drivers = drivers
        self.scheduler = Scheduler(drivers, self.store, self.profile.store.flush_interval_s)
        self.engine = IndicatorEngine(self.store, self.profile, {d.device.name: d.points() for d in drivers},
                                      self.windows, self.grace_s)
        self.engine.prime()
        self.batcher = Batcher(self.store, self.identity, self.profile.uplink.batch_max_records, self.policy)
        transport = self._transport or make_transport(self.profile, self.identity)
        heads = HeadSigner(self.store, self.identity, self.profile.uplink.head_interval_s)
        self.sender = Sender(self.store, transport, self.profile.uplink.backoff_initial_s,
                             self.profile.uplink.backoff_max_s, heads) if transport else None
        # Consent and privacy sit between the store and the outbox (gateway/consent/gate.py).
        self.gate = build_gate(self.profile, self.state_dir, self.store,
                               lambda: self.sender.dest if self.sender is not None else "none")
        if self.policy is None:
            self.batcher.policy = self.gate.policy
        # MES/ERP exports: drop folders and read-only SQL, imported off the event loop.
        self.connectors = None
        if self.profile.connectors:
            from gateway.connectors.runner import ConnectorRunner  # csv/Excel/SQL code only when used

            self.connectors = ConnectorRunner(self.profile, self.state_dir, self.store)
        await self.scheduler.start()
        self.tasks.append(asyncio.create_task(self._indicator_loop(), name="indicators"))
        self.tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))
        if self.connectors is not None:
            self.tasks.append(asyncio.create_task(self.connectors.run_forever(), name="connectors"))
        if self.sender is not None:
            self.tasks.append(asyncio.create_task(self.sender.run(self.profile.uplink.interval_s), name="uplink"))
        if self.profile.uplink.view_interval_s > 0 and self.identity.enterprise_id is not None:
            from gateway.enterprise_view.loop import view_loop  # what the bank sees, fetched signed (issue 16)

            self.tasks.append(asyncio.create_task(view_loop(self), name="enterprise-view"))
        self.health = HealthReporter(self, self.profile.uplink.health_interval_s)
        self.tasks.append(asyncio.create_task(self._health_loop(), name="health"))
        self.identities = IdentityReporter(self)
        self.tasks.append(asyncio.create_task(self._identity_loop(), name="identity"))
        self._start_status()
        log.info("gateway started", extra={"gateway": self.identity.gateway_id, "boot": self.boot,
                                           "devices": len(drivers), "simulate": self.simulate})

    def _start_status(self) -> None:
        """The LAN status page (if enabled) and the snapshot file `edgeproof status` reads."""
        cfg = self.profile.status
        if cfg.enabled:
            from gateway.status.server import StatusServer  # the HTTP server only when it runs

            try:
                server = StatusServer(self, cfg.bind, cfg.password_file)
                server.start()
                self.status_server = server
            except (OSError, ValueError) as exc:
                # The page is for people; polling and the uplink must go on without it.
                log.error("status page not started", extra={"bind": cfg.bind, "error": str(exc)})
        self.tasks.append(asyncio.create_task(self._snapshot_loop(), name="status-snapshot"))

    async def _snapshot_loop(self, every_s: float = 15.0) -> None:
        # Every 15 s, not faster: the file is on the SD card and only `edgeproof status` reads it.
        from gateway.status import collect
        from gateway.status.snapshot import write_snapshot

        while True:
            try:
                doc = await asyncio.to_thread(collect.status, self)
                await asyncio.to_thread(write_snapshot, self.state_dir, doc)
            except Exception as exc:  # noqa: BLE001 - a status snapshot must never stop the gateway
                log.warning("status snapshot failed", extra={"error": str(exc)})
            await asyncio.sleep(every_s)

    async def close_windows_and_pack(self) -> int:
        made = await asyncio.to_thread(self.engine.run_once)
        self.indicators_made += made
        if self.identity.enterprise_id is not None:
            async with self.pack_lock:
                await asyncio.to_thread(pack_step, self.batcher, self.gate)
            if self.sender is not None:
                self.sender.wakeup.set()
        return made

    async def send_health(self) -> int | None:
        """Sign a health summary into the chain now and wake the uplink; its seq (None: not enrolled)."""
        async with self.pack_lock:
            seq = await asyncio.to_thread(self.health.pack_now)
        if seq is not None and self.sender is not None:
            self.sender.wakeup.set()
        return seq

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health.interval_s)
            try:
                await self.send_health()
            except Exception as exc:
                log.exception("health summary failed; will retry", extra={"error": str(exc)})

    async def send_identities(self) -> int | None:
        """Sign new or changed meter identities into the chain now; the batch's seq (None: nothing due)."""
        async with self.pack_lock:
            seq = await asyncio.to_thread(self.identities.pack_now)
        if seq is not None and self.sender is not None:
            self.sender.wakeup.set()
        return seq

    async def _identity_loop(self) -> None:
        while True:
            await asyncio.sleep(self.identity_check_s)
            try:
                await self.send_identities()
            except Exception as exc:
                log.exception("identity record failed; will retry", extra={"error": str(exc)})

    async def _indicator_loop(self) -> None:
        while True:
            await asyncio.sleep(self.profile.indicators.interval_s)
            try:
                await self.close_windows_and_pack()
            except Exception as exc:
                log.exception("indicator/batch step failed; will retry", extra={"error": str(exc)})

    async def _retention_loop(self) -> None:
        cfg = self.profile.store
        while True:
            await asyncio.sleep(60)
            try:
                await asyncio.to_thread(self.store.purge, cfg.retention_days * 86400, cfg.max_mb * 1e6,
                                        self.engine.computed_until())
                await asyncio.to_thread(self.store.purge_acked, cfg.retain_acked_days * 86400, cfg.max_mb * 1e6)
            except Exception as exc:
                log.exception("retention step failed", extra={"error": str(exc)})

    async def stop(self, drain_s: float = 0.0) -> None:
        await cancel_and_wait(self.tasks)
        if self.status_server is not None:
            await asyncio.to_thread(self.status_server.stop)
            self.status_server = None
        await self.scheduler.stop()
        if drain_s > 0 and self.sender is not None:
            try:
                await self.sender.drain(drain_s)
            except Exception as exc:  # noqa: BLE001 - what is not sent stays in the outbox
                log.warning("uplink not drained before stop", extra={"error": str(exc)})
        if self.sender is not None:
            await self.sender.transport.close()
        for stop in self.stoppers:
            try:
                await stop()
            except Exception:  # noqa: BLE001
                pass
        self._final_snapshot()
        self.store.close()

    def _final_snapshot(self) -> None:
        """Leave a snapshot that says the gateway stopped, so `edgeproof status` does not
        report a stopped gateway as running."""
        from gateway.status import collect
        from gateway.status.snapshot import write_snapshot

        try:
            doc = collect.status(self)
            doc["stopped"] = True
            write_snapshot(self.state_dir, doc)
        except Exception as exc:  # noqa: BLE001
            log.warning("final status snapshot failed", extra={"error": str(exc)})
