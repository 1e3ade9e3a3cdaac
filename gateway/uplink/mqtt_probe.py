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

from gateway.profile.schema import MqttCfg


@dataclass(frozen=True)
class ProbeResult:
    status: str  # ok | fail
    detail: str
    fix: str = ""


def probe_broker(cfg: MqttCfg, gateway_id: str, timeout_s: float = 5.0) -> ProbeResult:
    import paho.mqtt.client as mqtt

    from gateway.uplink.mqtt import make_client

    where = f"broker {cfg.host}:{cfg.port}{' (TLS)' if cfg.tls else ''}"
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
        return ProbeResult("fail", f"{where}: cannot prepare the login: {exc}",
                           "check [uplink.mqtt] password_file / cafile: they must exist and be readable")
    client.on_connect, client.on_subscribe, client.on_disconnect = on_connect, on_subscribe, on_disconnect
    try:
        client.connect(cfg.host, cfg.port, keepalive=max(5, int(timeout_s) + 5))
    except OSError as exc:  # refused, unreachable, DNS, TLS handshake or certificate
        return ProbeResult("fail", f"{where} unreachable: {exc}",
                           "check the network, the firewall (port 8883/1883), [uplink.mqtt] host/port and, "
                           "with TLS, cafile")
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return ProbeResult("fail", f"{where}: no answer to the MQTT login within {timeout_s:g} s",
                               "is it an MQTT broker on that port? (TLS port with tls = false, or the reverse)")
    finally:
        client.disconnect()
        client.loop_stop()
    rc = outcome.get("connack")
    if rc is None:
        return ProbeResult("fail", f"{where} closed the connection before answering the login "
                                   f"({outcome.get('disconnect')})",
                           "with TLS, check cafile and the broker's certificate; otherwise the broker's log")
    if rc.is_failure:
        return ProbeResult("fail", f"{where} refused the login as {cfg.username or 'anonymous'}: {rc}",
                           "check [uplink.mqtt] username and password_file against the broker's password file")
    codes = outcome.get("suback") or []
    if not codes or any(getattr(c, "is_failure", False) or c == 0x80 for c in codes):
        return ProbeResult("fail", f"{where} accepted the login but refused the subscription to {ack_topic}",
                           "the broker's ACL must let this gateway read its ack topic and write "
                           f"{cfg.topic_prefix}/{gateway_id}/batch, or no batch is ever acknowledged")
    return ProbeResult("ok", f"{where} accepted the login as {cfg.username or 'anonymous'} and the subscription "
                             f"to {ack_topic}")
