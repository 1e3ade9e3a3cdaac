"""A real gateway site for the health-check tests: a receiver on loopback, an enrolled state
directory, and the uplink that gets a batch acknowledged (what a newly switched version does)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud_stub import receiver_key
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import issue_token
from cloud_stub.http_api import create_app
from cloud_stub.server import Running
from gateway.identity import enroll, init_identity, load_identity
from gateway.store import Store
from gateway.uplink.batcher import Batcher
from gateway.uplink.http import HttpTransport
from gateway.uplink.sender import Sender

T0 = 1764201600


@contextmanager
def enrolled_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(state dir, receiver URL): a real receiver on loopback and a gateway enrolled with it."""
    rdb = ReceiverDB(tmp_path / "receiver.db")
    running = Running(create_app(rdb, receiver_key.load_or_create(tmp_path / "receiver.key")))
    try:
        state = tmp_path / "gw"
        init_identity(state, "gw-upd", "t")
        enroll(state, running.url, issue_token(rdb, "ent-1")["token"])
        yield state, running.url
    finally:
        running.stop()
        rdb.close()


def send_one_batch(state: Path, url: str) -> None:
    """What the new version does once it runs: pack an indicator, sign it, get it acknowledged."""
    store = Store(state / "edgeproof.db", "NORMAL")
    try:
        store.add_indicators([{"name": "energy.kwh", "category": "energy", "subject": "press-1",
                               "window_start": T0, "window_len": 900, "value": 12.5, "unit": "kWh",
                               "quality": [], "version": 1, "detail": {}}])
        Batcher(store, load_identity(state)).pack_all()
        sender = Sender(store, HttpTransport(url))
        asyncio.run(sender.send_pending())
        assert sender.backlog() == 0
    finally:
        store.close()
