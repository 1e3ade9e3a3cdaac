"""MQTT transport (paho-mqtt 2.x, QoS 1).

A batch counts as delivered only when the broker sent PUBACK *and* the receiver
published its verdict on ``{prefix}/{gateway}/ack``: PUBACK alone only proves the broker
has it. The client reconnects by itself; a dead broker shows as TransportError and the
sender retries the same bytes later.

With ``compression="auto"`` the gateway asks the receiver it enrolled with (HTTP ``GET
/v1/capabilities``) and, when it lists the ``/zstd`` topic suffix, publishes batches as zstd-compressed
compact envelopes on ``{prefix}/{gateway}/batch/zstd`` (gateway/wire/compress.py). A receiver that
cannot decode one answers ``bad_encoding`` on the ack topic; the gateway then sends JSON from then on.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from gateway.i18n import N_
from gateway.profile.schema import MqttCfg
from gateway.uplink import capabilities
from gateway.uplink.transport import Ack, TransportError
from gateway.wire import compress as wire_compress
from gateway.wire.backoff import paho_reconnect_delays


def make_client(cfg: MqttCfg, client_id: str, clean_session: bool) -> mqtt.Client:
    """A paho client with the profile's login and TLS: the uplink and ``selftest``'s broker
    probe must log in exactly alike, or the probe would pass where the uplink fails."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
    if cfg.username:
        password = Path(cfg.password_file).read_text().strip() if cfg.password_file else None
        client.username_pw_set(cfg.username, password)
    if cfg.tls:
        client.tls_set(ca_certs=cfg.cafile)  # never falls back to plain text
    return client


class MqttTransport:
    def __init__(self, cfg: MqttCfg, gateway_id: str, timeout_s: float = 10.0, compression: str = "off",
                 receiver_url: str | None = None) -> None:
        self.cfg = cfg
        self.receiver_url = receiver_url
        # None: not asked yet; True/False: the receiver takes zstd compact envelopes on batch/zstd or not.
        self.compact: bool | None = None if compression == "auto" and receiver_url else False
        self._refused = False
        self._ask_after = 0.0  # monotonic time before which a failed capabilities ask is not repeated
        self.gateway_id = gateway_id
        self.timeout_s = timeout_s
        self.name = f"mqtt:{cfg.host}:{cfg.port}"
        self.topic = f"{cfg.topic_prefix}/{gateway_id}/batch"
        self.ack_topic = f"{cfg.topic_prefix}/{gateway_id}/ack"
        # Head statements go next to the batches; their verdict comes on the same ack topic,
        # named by the statement's hash (which no batch hash can equal).
        self.head_topic = f"{cfg.topic_prefix}/{gateway_id}/head"
        self._acks: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client = make_client(cfg, f"edgeproof-{gateway_id}", clean_session=False)
        self.client.max_inflight_messages_set(20)
        self.client.reconnect_delay_set(**paho_reconnect_delays())
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._started = False

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if not rc.is_failure:
            client.subscribe(self.ack_topic, qos=1)
            self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            obj = json.loads(msg.payload)
        except ValueError:
            return
        with self._cond:
            if isinstance(obj, dict) and obj.get("hash"):
                self._acks[obj["hash"]] = obj
                self._cond.notify_all()
            elif isinstance(obj, dict) and obj.get("code") in ("bad_encoding", "too_large"):
                self._refused = True  # our compressed batch could not be decoded: no hash to name
                self._cond.notify_all()

    def _ensure_started(self) -> None:
        if not self._started:
            try:
                self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
            except (OSError, ValueError) as exc:
                raise TransportError(N_("cannot connect to broker {name}: {error}"), name=self.name, error=exc) from exc
            self.client.loop_start()
            self._started = True

    def _send(self, batch_hash: str, envelope: bytes, topic: str | None = None) -> Ack:
        self._ensure_started()
        if not self._connected.wait(self.timeout_s):
            raise TransportError(N_("broker {name} not connected"), name=self.name)
        info = self.client.publish(topic or self.topic, envelope, qos=1)
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise TransportError(N_("publish failed: {error}"), error=exc) from exc
        if not info.is_published():
            raise TransportError(N_("no PUBACK from broker in time"))
        with self._cond:
            ok = self._cond.wait_for(lambda: batch_hash in self._acks or self._refused, self.timeout_s)
            if self._refused and batch_hash not in self._acks:
                raise TransportError(N_("the receiver could not decode the compressed batch"))
            if not ok:
                raise TransportError(N_("broker has the batch but no receiver verdict arrived in time"))
            return Ack.from_json(self._acks.pop(batch_hash))

    def _send_batch(self, batch_hash: str, envelope: bytes) -> Ack:
        if self.compact is None and self.receiver_url and time.monotonic() >= self._ask_after:
            caps = capabilities.fetch(self.receiver_url, self.timeout_s)
            if caps is not None:
                self.compact = capabilities.takes_mqtt_zstd(caps)
            else:
                self._ask_after = time.monotonic() + capabilities.RETRY_S
        if not self.compact:
            return self._send(batch_hash, envelope)
        self._refused = False
        try:
            return self._send(batch_hash, wire_compress.encode(envelope), self.topic + wire_compress.MQTT_SUFFIX)
        except TransportError:
            if not self._refused:
                raise
            self.compact = False  # the receiver could not decode it: JSON from now on
            return self._send(batch_hash, envelope)

    async def send(self, seq: int, batch_hash: str, envelope: bytes) -> Ack:
        return await asyncio.to_thread(self._send_batch, batch_hash, envelope)

    async def send_head(self, statement_hash: str, envelope: bytes) -> Ack:
        """A head statement (gateway/uplink/heads.py) on ``{prefix}/{gateway}/head``."""
        return await asyncio.to_thread(self._send, statement_hash, envelope, self.head_topic)

    async def close(self) -> None:
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
            self._started = False
