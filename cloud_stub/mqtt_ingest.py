"""MQTT ingest: a paho-mqtt 2.x subscriber that feeds the same ``ingest`` as HTTP.

Gateways publish envelopes to ``{prefix}/{gateway_id}/batch`` (QoS 1). We subscribe
through the shared subscription ``$share/{group}/{prefix}/+/batch`` (group
``edgeproof-receivers`` unless told otherwise) so that several receivers on one database
split the load: the broker hands each message to one member of the group. We answer on
``{prefix}/{gateway_id}/ack`` (QoS 1) with the same JSON an HTTP POST would get, whichever
receiver handled the batch; the gateway does not know or care which one did. paho sends PUBACK only after ``on_message``
returns, so a batch is stored before the broker forgets it (at-least-once; the receiver
turns repeats into ``duplicate`` acks).

The client connects asynchronously and reconnects on its own thread, so a dead or
restarting broker never blocks or crashes the HTTP side.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt

from cloud_stub import access_log
from cloud_stub.db import Store, iso, utc_now
from cloud_stub.heads import ingest_head
from cloud_stub.ingest import ingest
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


class MqttIngest:
    """Subscribes, ingests, acks. ``start()`` returns at once; ``stop()`` disconnects."""

    def __init__(self, rdb: Store, host: str, port: int, prefix: str = "edgeproof/v1",
                 client_id: str | None = None, share_group: str = SHARE_GROUP) -> None:
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
        self._count_lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"edgeproof-receiver-{uuid.uuid4().hex[:12]}",
        )
        self.client.reconnect_delay_set(**paho_reconnect_delays())
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.connected = False
        # Accepted batches and head statements are authenticated requests: into the access log, as over HTTP.
        self.access = access_log.AccessLog(rdb)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
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

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        data = msg.payload
        if len(parts) >= 4 and parts[-2:] == ["batch", wire_compress.MQTT_SUFFIX.strip("/")]:
            parts = parts[:-1]  # a compressed compact batch: decoded to its JSON envelope below
            if "/".join(parts[:-2]) != self.prefix:
                log.warning("unexpected topic", extra={"event": "mqtt_topic", "topic": msg.topic})
                return
            try:
                data = wire_compress.decode(msg.payload, wire_compress.ZSTD, wire_compress.COMPACT_TYPE)
            except wire_compress.EncodingError as exc:
                log.warning("undecodable compressed batch", extra={"event": "mqtt_bad_encoding", "topic": msg.topic,
                                                                   "error": exc.message})
                with self._count_lock:
                    self.handled["rejected"] += 1
                client.publish(f"{'/'.join(parts[:-1])}/ack", json.dumps(
                    {"status": "rejected", "code": exc.code if exc.code == "too_large" else "bad_encoding",
                     "message": exc.message}), qos=1)
                return
        if len(parts) < 3 or parts[-1] not in ("batch", "head") or "/".join(parts[:-2]) != self.prefix:
            log.warning("unexpected topic", extra={"event": "mqtt_topic", "topic": msg.topic})
            return
        gateway_id = parts[-2]
        handle = ingest if parts[-1] == "batch" else ingest_head
        try:
            result = handle(self.rdb, data, transport="mqtt", expect_gateway=gateway_id)
            payload = result.to_json()
            if result.status in ("accepted", "duplicate") and result.gateway_id:
                self.access.add({"time": iso(utc_now()), "actor_kind": "gateway", "actor_id": result.gateway_id,
                                 "enterprise_id": None, "method": "MQTT", "path": msg.topic,
                                 "client": f"mqtt:{self.host}:{self.port}",
                                 "status": 0, "returned": {parts[-1]: result.hash, "seq": result.seq,
                                                           "status": result.status}})
        except Exception:  # a bug must not kill the network thread; the gateway will resend
            log.exception("ingest failed", extra={"event": "mqtt_ingest_error", "gateway": gateway_id})
            payload = {"status": "error", "code": "internal", "message": "receiver error; resend later"}
        with self._count_lock:
            self.handled[payload["status"]] += 1
        client.publish(f"{self.prefix}/{gateway_id}/ack", json.dumps(payload), qos=1)
