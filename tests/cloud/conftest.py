"""Fixtures for receiver tests: a database, a live receiver on loopback, a real mosquitto."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import CATS, T0, FakeGateway, free_port, http, pin_of, uplink
from nacl.signing import SigningKey

from cloud_stub import receiver_key
from cloud_stub.banks import add_bank
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import issue_token
from cloud_stub.http_api import create_app
from cloud_stub.server import Running
from gateway.identity import enroll, init_identity, load_identity
from gateway.store import Store
from gateway.uplink.batcher import Batcher
from tests.support.services import missing_service

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@dataclass
class Receiver:
    url: str
    rdb: ReceiverDB
    key: SigningKey
    db_path: Path
    gateways: dict[str, FakeGateway] = field(default_factory=dict)

    def enroll(self, gw: FakeGateway) -> dict:
        token = issue_token(self.rdb, gw.enterprise)["token"]
        status, out = http("POST", f"{self.url}/v1/enroll", gw.enroll_request(token))
        assert status == 200, out
        return out

    def post(self, envelope: bytes) -> tuple[int, dict]:
        return http("POST", f"{self.url}/v1/batches", envelope)

    def stored(self) -> list[tuple]:
        """Everything accepted, for before/after comparisons: (hash, seq, body) and record rows."""
        with self.rdb.read() as conn:
            batches = conn.execute("SELECT hash, seq, body FROM batches ORDER BY id").fetchall()
            records = conn.execute("SELECT id, batch_hash, idx, record FROM records ORDER BY id").fetchall()
        return [batches, records]


@pytest.fixture
def rdb(tmp_path: Path) -> Iterator[ReceiverDB]:
    db = ReceiverDB(tmp_path / "receiver.db")
    yield db
    db.close()


@pytest.fixture
def receiver(tmp_path: Path, rdb: ReceiverDB) -> Iterator[Receiver]:
    key = receiver_key.load_or_create(tmp_path / "receiver.key")
    running = Running(create_app(rdb, key))
    yield Receiver(running.url, rdb, key, Path(rdb.path))
    running.stop()


@pytest.fixture
def gw(receiver: Receiver) -> FakeGateway:
    """An enrolled gateway."""
    g = FakeGateway()
    receiver.enroll(g)
    return g


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start listening")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A private mosquitto on a free loopback port; stopped by its PID."""
    if not os.path.exists(MOSQUITTO):
        missing_service("mosquitto", "mosquitto")
    d = tmp_path_factory.mktemp("mosquitto")
    port = free_port()
    conf = d / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
    if os.geteuid() == 0:
        lines.append("user root")  # otherwise mosquitto drops to 'mosquitto' and cannot read our temp dir
    conf.write_text("\n".join(lines) + "\n")
    log = open(d / "mosquitto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(port, proc)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def site(receiver: Receiver, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real gateway (store, batcher, enrolled identity) whose indicators of three categories were
    packed and delivered; banks granted all, energy only, energy+machine."""
    state = tmp_path / "gw"
    init_identity(state, "gw-real", "t")
    enroll(state, receiver.url, issue_token(receiver.rdb, "ent-1")["token"])
    store = Store(state / "edgeproof.db", "NORMAL")
    batcher = Batcher(store, load_identity(state), max_records=4)
    rows = []
    for i in range(6):  # interleaved: energy, machine, env, energy, ...
        for cat, name in CATS.items():
            rows.append({"name": name, "category": cat, "subject": "press-1", "window_start": T0 + 900 * i,
                         "window_len": 900, "value": 100.0 + i, "unit": "u", "quality": [], "version": 1,
                         "detail": {}})
    store.add_indicators(rows)
    seqs = batcher.pack_all()
    uplink(store, load_identity(state), receiver.url)
    tokens = {
        "all": add_bank(receiver.rdb, "bank-all", "ent-1")["token"],
        "energy": add_bank(receiver.rdb, "bank-energy", "ent-1", "energy")["token"],
        "em": add_bank(receiver.rdb, "bank-em", "ent-1", "energy,machine")["token"],
    }
    yield {"receiver": receiver, "store": store, "seqs": seqs, "tokens": tokens, "pin": pin_of(receiver)}
    store.close()
