"""Switch-over: two ``cloud serve --mqtt`` processes on one PostgreSQL, one killed (-9) mid-ingest;
the other carries on through the MQTT shared subscription, nothing lost or doubled.

Real parts only: mosquitto, a throwaway PostgreSQL, two receiver processes, and four real
gateways (Store + Batcher + Sender + the MQTT transport) sending concurrently. A batch the
killed receiver took but never answered gets no verdict: the gateway's transport times out and
resends the same bytes, which the surviving receiver accepts (or answers ``duplicate`` when the
killed one had committed before dying).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import PREFIX, T0, wait_for
from test_shared_subscription import assert_chain_intact, pg_url  # noqa: F401

from cloud_stub import receiver_key
from tests.support.postgres import postgres_server  # noqa: F401

psycopg = pytest.importorskip("psycopg")

from cloud_stub.banks import add_bank  # noqa: E402
from cloud_stub.db_postgres import PostgresDB  # noqa: E402
from cloud_stub.enrollment import issue_token  # noqa: E402
from cloud_stub.feed_verify import verify_feed  # noqa: E402
from gateway import wire  # noqa: E402
from gateway.identity import enroll, init_identity, load_identity  # noqa: E402
from gateway.profile.schema import MqttCfg  # noqa: E402
from gateway.store import Store  # noqa: E402
from gateway.uplink.batcher import Batcher  # noqa: E402
from gateway.uplink.heads import HeadSigner  # noqa: E402
from gateway.uplink.mqtt import MqttTransport  # noqa: E402
from gateway.uplink.sender import Sender  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ENT = "ent-switch"


def _accepted(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines()
               if '"event": "batch"' in line and '"status": "accepted"' in line)


@pytest.fixture
def served(tmp_path: Path, mosquitto: tuple[str, int], pg_url: str) -> Iterator[list[dict[str, Any]]]:  # noqa: F811
    key = tmp_path / "receiver.key"
    receiver_key.load_or_create(key)
    group = f"g-{uuid.uuid4().hex[:8]}"
    out: list[dict[str, Any]] = []
    try:
        for i in range(2):
            ready, log_path = tmp_path / f"ready{i}.json", tmp_path / f"serve{i}.log"
            log = open(log_path, "wb")  # noqa: SIM115 - closed below
            proc = subprocess.Popen(
                [sys.executable, "-m", "cloud_stub", "serve", "--db", pg_url, "--key", str(key), "--port", "0",
                 "--ready-file", str(ready), "--mqtt", f"{mosquitto[0]}:{mosquitto[1]}",
                 "--mqtt-topic-prefix", PREFIX, "--mqtt-share-group", group], cwd=REPO, stderr=log)
            out.append({"proc": proc, "log_file": log, "log": log_path, "ready": ready, "key": key})
            wait_for(lambda ready=ready, proc=proc: ready.exists() or proc.poll() is not None, timeout=20)
            assert proc.poll() is None, log_path.read_text()
            out[-1]["url"] = json.loads(ready.read_text())["url"]
        wait_for(lambda: all(any('"event": "mqtt_connect"' in ln and group in ln
                                 for ln in r["log"].read_text().splitlines()) for r in out), timeout=20)
        time.sleep(0.2)  # both SUBACKs in before anyone publishes
        yield out
    finally:
        for r in out:
            if r["proc"].poll() is None:
                r["proc"].terminate()
                r["proc"].wait(timeout=10)
            r["log_file"].close()


def _gateway(tmp: Path, name: str, url: str, rdb: Any, windows: int) -> tuple[Store, int]:
    state = tmp / name
    init_identity(state, name, "t")
    enroll(state, url, issue_token(rdb, ENT)["token"])
    store = Store(state / "edgeproof.db", "NORMAL")
    store.add_indicators([{"name": "energy.kwh", "category": "energy", "subject": "m", "window_start": T0 + 900 * i,
                           "window_len": 900, "value": float(i), "unit": "kWh", "quality": [], "version": 1,
                           "detail": {}} for i in range(windows)])
    Batcher(store, load_identity(state), max_records=2).pack_all()
    return store, windows


def test_killing_one_receiver_mid_ingest_loses_and_doubles_nothing(served, mosquitto, pg_url: str,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    a, b = served
    rdb = PostgresDB(pg_url)
    gws = [_gateway(tmp_path, f"gw-sw-{i}", a["url"], rdb, 60) for i in range(4)]  # 30 batches each
    results: dict[int, Any] = {}

    def send(i: int, store: Store) -> None:
        transport = MqttTransport(MqttCfg(host=mosquitto[0], port=mosquitto[1], topic_prefix=PREFIX),
                                  store.path.parent.name, timeout_s=2.0)
        sender = Sender(store, transport, backoff_initial_s=0.1,
                        heads=HeadSigner(store, load_identity(store.path.parent)))

        async def go() -> None:
            try:
                await sender.drain(90.0)
            finally:
                await transport.close()

        try:
            asyncio.run(go())
            results[i] = sender
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=send, args=(i, s)) for i, (s, _) in enumerate(gws)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: _accepted(a["log"]) >= 10 and _accepted(b["log"]) >= 10, timeout=60)
        os.kill(a["proc"].pid, signal.SIGKILL)  # mid-ingest: batches of four gateways in flight
        a["proc"].wait(timeout=10)
        at_kill = _accepted(b["log"])
    finally:
        for t in threads:
            t.join(timeout=120)
    try:
        assert all(isinstance(r, Sender) for r in results.values()) and len(results) == 4, results
        total_batches = 0
        for store, windows in gws:
            head = store.outbox_head()
            assert store.acked(next(iter(results.values())).dest) == head == windows // 2
            assert_chain_intact(rdb, store.path.parent.name, head)  # and 2 records each
            total_batches += head
        assert _accepted(b["log"]) > at_kill  # the survivor carried on
        with rdb.read() as conn:
            n, distinct = conn.execute("SELECT count(*), count(DISTINCT (batch_hash, idx)) FROM records").fetchone()
        assert n == distinct == sum(w for _, w in gws)
        bank = add_bank(rdb, "bank-sw", ENT)["token"]
        pin = wire.b64(bytes(receiver_key.load_or_create(a["key"]).verify_key))
        s = verify_feed(b["url"], ENT, bank, pin, page_limit=200)
        assert s["failures"] == [] and s["records"] == n and s["batches"] == total_batches, s
        assert all(s["heads"][store.path.parent.name]["signed_seq"] == store.outbox_head() for store, _ in gws)
    finally:
        for store, _ in gws:
            store.close()
        rdb.close()
