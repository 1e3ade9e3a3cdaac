"""Test helpers for the receiver: a gateway that signs real batches, and a tiny HTTP client.

Real keys, real wire format, real HTTP over loopback: nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey

from gateway import wire
from gateway.uplink.heads import HeadSigner
from gateway.uplink.http import HttpTransport
from gateway.uplink.sender import Sender

PREFIX = "edgeproof/v1"
T0 = 1764201600
CATS = {"energy": "energy.kwh", "machine": "machine.cycles", "env": "env.temp_c_mean"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def indicator(i: int = 0, value: float = 1.5) -> dict[str, Any]:
    return {"type": "indicator", "name": "energy.kwh", "category": "energy", "subject": "press-1",
            "window": {"start": 1764201600 + 900 * i, "len": 900}, "value": value, "unit": "kWh",
            "q": [], "def": 1}


def http(method: str, url: str, data: bytes | dict[str, Any] | None = None,
         token: str | None = None) -> tuple[int, Any]:
    """One request; returns (status, decoded JSON) for 2xx and 4xx alike."""
    body = json.dumps(data).encode() if isinstance(data, dict) else data
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@dataclass
class FakeGateway:
    """A gateway's signing side: its key and its chain state (seq, prev), built with gateway.wire."""

    gateway_id: str = "gw-1"
    enterprise: str = "ent-1"
    key: SigningKey = field(default_factory=SigningKey.generate)
    seq: int = 0
    prev: str = wire.GENESIS_PREV

    @property
    def kid(self) -> str:
        return wire.key_id(bytes(self.key.verify_key))

    @property
    def public_b64(self) -> str:
        return wire.b64(bytes(self.key.verify_key))

    def enroll_request(self, token: str) -> dict[str, str]:
        proof = wire.sign_enrollment(token, self.gateway_id, self.key)
        return {"token": token, "gateway_id": self.gateway_id, "public_key": self.public_b64,
                "proof": wire.b64(proof)}

    def body(self, seq: int, prev: str, records: list[dict[str, Any]] | None = None,
             **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": 1, "gateway": self.gateway_id, "enterprise": self.enterprise, "kid": self.kid,
            "seq": seq, "prev": prev, "boot": 1, "created": "2026-11-27T00:00:00.000Z",
            "clock": {"synced": True, "source": "test"},
            "loss": {"polls_failed": 0, "readings_purged_unsent": 0, "batches_dropped": 0},
            "records": [indicator(0)] if records is None else records,
        }
        body.update(extra)
        return body

    def make(self, seq: int | None = None, prev: str | None = None,
             records: list[dict[str, Any]] | None = None, key: SigningKey | None = None,
             **extra: Any) -> wire.SignedBatch:
        """A batch signed now; does not advance the chain (see ``next``)."""
        body = self.body(self.seq + 1 if seq is None else seq, self.prev if prev is None else prev, records,
                         **extra)
        return wire.sign_body(body, key or self.key)

    def next(self, records: list[dict[str, Any]] | None = None, **extra: Any) -> wire.SignedBatch:
        """The next batch of the chain, and advance: as the real gateway does once it is signed."""
        batch = self.make(records=records, **extra)
        self.seq += 1
        self.prev = batch.hash
        return batch


def flip_body_byte(batch: wire.SignedBatch, at: int = -5) -> bytes:
    """The envelope with one byte of the signed body changed."""
    body = bytearray(batch.body)
    body[at] ^= 0x01
    return wire.SignedBatch(bytes(body), batch.sig, batch.kid).envelope()


def wait_for(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


class GatewayMqtt:
    """The gateway's side of MQTT: publish envelopes, collect acks."""

    def __init__(self, host: str, port: int, gateway_id: str) -> None:
        self.acks: queue.Queue[dict] = queue.Queue()
        self.subscribed = False
        client_id = f"test-{gateway_id}-{time.time_ns()}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.topic = f"{PREFIX}/{gateway_id}"
        self.client.on_connect = lambda c, *_: c.subscribe(f"{self.topic}/ack", qos=1)
        self.client.on_subscribe = lambda *_: setattr(self, "subscribed", True)
        self.client.on_message = lambda _c, _u, msg: self.acks.put(json.loads(msg.payload))
        self.client.connect(host, port)
        self.client.loop_start()
        wait_for(lambda: self.subscribed)

    def publish(self, envelope: bytes, topic: str | None = None) -> None:
        self.client.publish(topic or f"{self.topic}/batch", envelope, qos=1).wait_for_publish(5)

    def ack(self) -> dict:
        return self.acks.get(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def pin_of(receiver: Any) -> str:
    """A receiver's public key as a bank pins it."""
    return wire.b64(bytes(receiver.key.verify_key))


def uplink(store: Any, identity: Any, url: str) -> Any:
    """The gateway's real uplink (Sender + HTTP transport + head statements) sends the whole
    outbox, then signs and sends a head statement of what the receiver acknowledged."""
    sender = Sender(store, HttpTransport(url), heads=HeadSigner(store, identity))
    asyncio.run(sender.send_pending())
    assert sender.status.state == "idle" and sender.status.heads_sent == 1, sender.status
    assert sender.backlog() == 0
    return sender
