"""MQTT ingest: a paho-mqtt 2.x subscriber that feeds the same ``ingest`` as HTTP.

Gateways publish envelopes to ``{prefix}/{gateway_id}/batch`` (QoS 1). We subscribe
through the shared subscription ``$share/{group}/{prefix}/+/batch`` (group
``edgeproof-receivers`` unless told otherwise) so that several receivers on one database
split the load: the broker hands each message to one member of the group. We answer on
``{prefix}/{gateway_id}/ack`` (QoS 1) with the same JSON an HTTP POST would get, whichever
receiver handled the batch; the gateway does not know or care which one did.

Concurrent ingest with group commit (issue 14): the client runs with paho's manual
acknowledgements, so the broker forgets a message (PUBACK) only after its verdict is final,
i.e. after the transaction holding its batch committed. ``on_message`` only queues the
message (a bounded queue); a verifier thread takes what has queued (up to ``group_max``
messages, waiting at most ``group_wait_s`` after the first), reads the group's stored
batches and keys in two queries and checks every signature; a committer thread stores the
verified batches of a group in ONE transaction (``ingest.commit_group``: one commit, one
fsync, per-batch verdicts unchanged), then publishes each gateway's ack and acknowledges each
message to the broker, in arrival order. A receiver killed between the commit and the
PUBACKs loses nothing and doubles nothing: the broker redelivers the unacknowledged messages
(to the same client id when its session persists, ``client_id`` + ``persistent``; otherwise
the gateway resends after its timeout) and the receiver answers them ``duplicate``.

Memory is bounded: the inbox holds at most ``queue_max`` messages and the verified groups
waiting to commit at most two groups. When both are full the network thread waits to queue,
and the broker stops sending once this client holds its inflight limit of unacknowledged
messages (mosquitto ``max_inflight_messages``, 20 by default: raise it, e.g. to 1000, so
groups can fill under load; docs/receiver.md).

The client connects asynchronously and reconnects on its own thread, so a dead or
restarting broker never blocks or crashes the HTTP side.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from cloud_stub import access_log
from cloud_stub.db import Store, iso, utc_now
from cloud_stub.heads import ingest_head
from cloud_stub.ingest import IngestResult, Verified, commit_group, lookup, note_result, verify_envelope
from gateway.wire import compress as wire_compress
from gateway.wire.backoff import paho_reconnect_delays

log = logging.getLogger("cloud_stub.mqtt")

SHARE_GROUP = "edgeproof-receivers"


def check_share_group(name: str) -> str:
    """A share group is one topic level: non-empty, no ``/``, ``+`` or ``#`` (MQTT 5, 4.8.2)."""
    if not name or any(c in name for c in "/+#") or name != name.strip():
        raise ValueError(f"share group must be one topic level without '/', '+', '#' or spaces, got {name!r}")
    return name


def parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


@dataclass
class _Message:
    """One MQTT message taken off the network thread, and what became of it."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    received: float = field(default_factory=time.perf_counter)
    gateway_id: str | None = None
    kind: str = "batch"  # batch | head | drop (a topic outside our prefix: acknowledged, no answer)
    data: bytes = b""
    reply: dict[str, Any] | None = None  # a verdict given before the commit stage (undecodable)
    checked: IngestResult | Verified | None = None


class MqttIngest:
    """Subscribes, ingests, acks. ``start()`` returns at once; ``stop()`` disconnects.

    ``group_max``: batches stored in one transaction at most; ``group_wait_s``: how long a group
    waits for more after its first message; ``queue_max``: messages queued off the network
    thread at most. ``client_id`` with ``persistent=True`` keeps the broker session across a
    restart, so what a killed receiver never acknowledged comes back to it. ``on_committed``
    (tests, observability) is called with the group's verdicts after each commit, before its acks.
    """

    def __init__(self, rdb: Store, host: str, port: int, prefix: str = "edgeproof/v1",
                 client_id: str | None = None, share_group: str = SHARE_GROUP, *, group_max: int = 64,
                 group_wait_s: float = 0.005, queue_max: int = 1000, persistent: bool = False,
                 on_committed: Callable[[list[IngestResult]], None] | None = None) -> None:
        self.rdb = rdb
        self.host = host
        self.port = port
        self.prefix = prefix.rstrip("/")
        self.subscription = f"$share/{check_share_group(share_group)}/{self.prefix}/+/batch"
        # Head statements (cloud_stub/heads.py) next to the batches, through the same share group.
        self.head_subscription = f"$share/{share_group}/{self.prefix}/+/head"
        # Compressed compact batches (issue 17, gateway/wire/compress.py) on <batch topic>/zstd.
        self.zstd_subscription = f"$share/{share_group}/{self.prefix}/+/batch{wire_compress.MQTT_SUFFIX}"
        # Verdicts this receiver gave (accepted, duplicate, rejected, error): how the share
        # group split the work is visible per receiver.
        self.handled: Counter[str] = Counter()
        self.group_sizes: Counter[int] = Counter()  # committed groups by size (how well grouping works)
        self.taken = 0  # messages taken off the network thread (what the receiver holds is bounded by the queues)
        self._count_lock = threading.Lock()
        self.group_max, self.group_wait_s = max(1, group_max), max(0.0, group_wait_s)
        self.on_committed = on_committed
        self.inbox: queue.Queue[_Message] = queue.Queue(maxsize=max(1, queue_max))
        self.verified: queue.Queue[list[_Message] | None] = queue.Queue(maxsize=2)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"edgeproof-receiver-{uuid.uuid4().hex[:12]}",
            clean_session=not (persistent and client_id),
            manual_ack=True,
        )
        self.client.reconnect_delay_set(**paho_reconnect_delays())
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.connected = False
        # Accepted batches and head statements are authenticated requests: into the access log, as over HTTP.
        self.access = access_log.AccessLog(rdb)

    def start(self) -> None:
        for name, target in (("verify", self._verify_loop), ("commit", self._commit_loop)):
            t = threading.Thread(target=target, name=f"mqtt-ingest-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect first (nothing new comes in), then let the queued messages finish: what was
        committed is acknowledged; what could not be is redelivered by the broker or resent."""
        self._stopping.set()  # nothing more is queued; what is queued is committed and answered
        for t in self._threads:
            t.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()
        self.access.close()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any,
                    _properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            log.warning("mqtt connect refused", extra={"event": "mqtt_connect", "reason": str(reason_code)})
            return
        # Subscribing here (not once at start) restores the subscription after every reconnect.
        client.subscribe([(self.subscription, 1), (self.head_subscription, 1), (self.zstd_subscription, 1)])
        self.connected = True
        log.info("mqtt connected", extra={"event": "mqtt_connect", "broker": f"{self.host}:{self.port}",
                                          "subscription": self.subscription})

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any,
                       _properties: Any) -> None:
        self.connected = False
        log.warning("mqtt disconnected", extra={"event": "mqtt_disconnect", "reason": str(reason_code)})

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """The network thread: queue and return. A full queue makes it wait (back-pressure)."""
        item = _Message(msg.mid, msg.qos, msg.topic, msg.payload)
        while not self._stopping.is_set():
            try:
                self.inbox.put(item, timeout=0.5)
                self.taken += 1  # only the network thread writes it
                return
            except queue.Full:
                continue

    # -- stage 1: topic, decoding, lookups and signatures --------------------------------------

    def _take_group(self) -> list[_Message]:
        """Block for the first message, then take what queued up to ``group_max`` or ``group_wait_s``."""
        while True:
            try:
                first = self.inbox.get(timeout=0.2)
                break
            except queue.Empty:
                if self._stopping.is_set():
                    return []
        group = [first]
        deadline = time.monotonic() + self.group_wait_s
        while len(group) < self.group_max:
            try:
                group.append(self.inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                group.append(self.inbox.get(timeout=left))
            except queue.Empty:
                break
        return group

    def _verify_loop(self) -> None:
        while True:
            group = self._take_group()
            if not group:
                self.verified.put(None)
                return
            try:
                self._verify(group)
            except Exception:  # a bug must not stop ingest: every message of the group gets an error
                log.exception("ingest failed", extra={"event": "mqtt_ingest_error"})
                for m in group:
                    if m.reply is None and not isinstance(m.checked, IngestResult):
                        m.kind, m.checked = "batch", None
                        m.reply = {"status": "error", "code": "internal", "message": "receiver error; resend later"}
            self.verified.put(group)

    def _verify(self, group: list[_Message]) -> None:
        for m in group:
            self._classify(m)
        batches = [m for m in group if m.kind == "batch" and m.reply is None]
        if not batches:
            return
        known = lookup(self.rdb, [m.data for m in batches])
        for m in batches:
            m.checked = verify_envelope(self.rdb, m.data, "mqtt", m.gateway_id, known)

    def _classify(self, m: _Message) -> None:
        """Topic and encoding: which gateway, batch or head, and the JSON envelope bytes."""
        parts = m.topic.split("/")
        m.data = m.payload
        if len(parts) >= 4 and parts[-2:] == ["batch", wire_compress.MQTT_SUFFIX.strip("/")]:
            parts = parts[:-1]  # a compressed compact batch: decoded to its JSON envelope below
            if "/".join(parts[:-2]) != self.prefix:
                log.warning("unexpected topic", extra={"event": "mqtt_topic", "topic": m.topic})
                m.kind = "drop"
                return
            m.gateway_id = parts[-2]
            try:
                m.data = wire_compress.decode(m.payload, wire_compress.ZSTD, wire_compress.COMPACT_TYPE)
            except wire_compress.EncodingError as exc:
                log.warning("undecodable compressed batch", extra={"event": "mqtt_bad_encoding", "topic": m.topic,
                                                                   "error": exc.message})
                m.reply = {"status": "rejected", "code": exc.code if exc.code == "too_large" else "bad_encoding",
                           "message": exc.message}
                return
        if len(parts) < 3 or parts[-1] not in ("batch", "head") or "/".join(parts[:-2]) != self.prefix:
            log.warning("unexpected topic", extra={"event": "mqtt_topic", "topic": m.topic})
            m.kind = "drop"
            return
        m.gateway_id = parts[-2]
        m.kind = parts[-1]

    # -- stage 2: one transaction per group, then the acks --------------------------------------

    def _commit_loop(self) -> None:
        while True:
            group = self.verified.get()
            if group is None:
                return
            try:
                self._commit(group)
            except Exception:  # a bug must not stop ingest; unacknowledged messages come back
                log.exception("ingest failed", extra={"event": "mqtt_ingest_error"})

    def _commit(self, group: list[_Message]) -> None:
        batches = [m for m in group if m.checked is not None]
        try:
            results = commit_group(self.rdb, [m.checked for m in batches if m.checked is not None])
        except Exception:  # the database is gone (both tries failed): the gateways resend later
            log.exception("ingest failed", extra={"event": "mqtt_ingest_error", "batches": len(batches)})
            results = [IngestResult("error", 500, "internal", "receiver error; resend later") for _ in batches]
        for m, r in zip(batches, results, strict=True):
            note_result(r, "mqtt", m.received)
            m.checked = r
        with self._count_lock:
            self.group_sizes[len(batches)] += 1
        if self.on_committed is not None:
            self.on_committed(results)
        for m in group:  # heads (rare) alone, in their place, each in its own transaction
            if m.kind == "head" and m.reply is None:
                try:
                    m.checked = ingest_head(self.rdb, m.data, transport="mqtt", expect_gateway=m.gateway_id)
                except Exception:  # noqa: BLE001 - answered as an error; the gateway resends
                    log.exception("ingest failed", extra={"event": "mqtt_ingest_error", "gateway": m.gateway_id})
                    m.reply = {"status": "error", "code": "internal", "message": "receiver error; resend later"}
            self._answer(m)

    def _answer(self, m: _Message) -> None:
        """The gateway's ack (QoS 1), then the broker's PUBACK: the message is done."""
        if m.kind != "drop":
            payload = m.reply
            if payload is None:
                result = m.checked
                assert isinstance(result, IngestResult)
                payload = result.to_json()
                if result.status in ("accepted", "duplicate") and result.gateway_id:
                    self.access.add({"time": iso(utc_now()), "actor_kind": "gateway", "actor_id": result.gateway_id,
                                     "enterprise_id": None, "method": "MQTT", "path": m.topic,
                                     "client": f"mqtt:{self.host}:{self.port}",
                                     "status": 0, "returned": {m.kind: result.hash, "seq": result.seq,
                                                               "status": result.status}})
            with self._count_lock:
                self.handled[payload["status"]] += 1
            self.client.publish(f"{self.prefix}/{m.gateway_id}/ack", json.dumps(payload), qos=1)
        self.client.ack(m.mid, m.qos)
