"""Does the broker let this gateway in? A real MQTT login, for ``edgeproof selftest``.

A TCP connect only proves something listens on the port. What breaks installs is the
layer above: a wrong password file, a CA that does not match, an ACL that does not let
the gateway read its own ack topic (then every batch is published, never acknowledged,
and the outbox grows until the disk fills). The probe logs in as the uplink does
(``mqtt.make_client``), with its own client id and a clean session so that a running
gateway's session is neither taken over nor disturbed, subscribes to the ack topic,
and disconnects. It publishes nothing (a test publish would reach the receiver as a batch).
Brokers that deny a subscription say so in the SUBACK; Mosquitto's acl_file does not (it
grants the subscription and filters on delivery), which no MQTT client can see.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gateway.i18n import _
from gateway.profile.schema import MqttCfg


@dataclass(frozen=True)
class ProbeResult:
    status: str  # ok | fail
    detail: str
    fix: str = ""


def probe_broker(cfg: MqttCfg, gateway_id: str, timeout_s: float = 5.0) -> ProbeResult:
    import paho.mqtt.client as mqtt

    from gateway.uplink.mqtt import make_client

    where = _("broker {host}:{port}").format(host=cfg.host, port=cfg.port) + (" (TLS)" if cfg.tls else "")
    user = cfg.username or _("anonymous")
    ack_topic = f"{cfg.topic_prefix}/{gateway_id}/ack"
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        outcome["connack"] = rc
        if rc.is_failure:
            done.set()
            return
        client.subscribe(ack_topic, qos=1)

    def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, codes: list[Any], _p: Any = None) -> None:
        outcome["suback"] = codes
        done.set()

    def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        outcome.setdefault("disconnect", rc)
        done.set()

    try:
        client = make_client(cfg, f"edgeproof-{gateway_id}-selftest", clean_session=True)
    except OSError as exc:  # the password file or CA file cannot be read
        return ProbeResult("fail", _("{broker}: cannot prepare the login: {error}").format(broker=where, error=exc),
                           _("check [uplink.mqtt] password_file / cafile: they must exist and be readable"))
    client.on_connect, client.on_subscribe, client.on_disconnect = on_connect, on_subscribe, on_disconnect
    try:
        client.connect(cfg.host, cfg.port, keepalive=max(5, int(timeout_s) + 5))
    except OSError as exc:  # refused, unreachable, DNS, TLS handshake or certificate
        return ProbeResult("fail", _("{broker} unreachable: {error}").format(broker=where, error=exc),
                           _("check the network, the firewall (port 8883/1883), [uplink.mqtt] host/port and, "
                             "with TLS, cafile"))
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return ProbeResult("fail", _("{broker}: no answer to the MQTT login within {s} s").format(
                broker=where, s=f"{timeout_s:g}"),
                _("is it an MQTT broker on that port? (TLS port with tls = false, or the reverse)"))
    finally:
        client.disconnect()
        client.loop_stop()
    rc = outcome.get("connack")
    if rc is None:
        return ProbeResult("fail", _("{broker} closed the connection before answering the login ({reason})").format(
            broker=where, reason=outcome.get("disconnect")),
            _("with TLS, check cafile and the broker's certificate; otherwise the broker's log"))
    if rc.is_failure:
        return ProbeResult("fail", _("{broker} refused the login as {user}: {reason}").format(
            broker=where, user=user, reason=rc),
            _("check [uplink.mqtt] username and password_file against the broker's password file"))
    codes = outcome.get("suback") or []
    if not codes or any(getattr(c, "is_failure", False) or c == 0x80 for c in codes):
        return ProbeResult("fail", _("{broker} accepted the login but refused the subscription to {topic}").format(
            broker=where, topic=ack_topic),
            _("the broker's ACL must let this gateway read its ack topic and write {topic}, or no batch is ever "
              "acknowledged").format(topic=f"{cfg.topic_prefix}/{gateway_id}/batch"))
    return ProbeResult("ok", _("{broker} accepted the login as {user} and the subscription to {topic}").format(
        broker=where, user=user, topic=ack_topic))
