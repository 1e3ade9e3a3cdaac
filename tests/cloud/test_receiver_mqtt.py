"""MQTT ingest against a real mosquitto: envelopes in, acks out, each batch stored once."""

from __future__ import annotations

import time

import pytest
from cloud_helpers import PREFIX, GatewayMqtt, flip_body_byte, free_port, http, wait_for

from cloud_stub.mqtt_ingest import MqttIngest


@pytest.fixture
def mqtt_receiver(receiver, mosquitto):
    ing = MqttIngest(receiver.rdb, *mosquitto, prefix=PREFIX)
    ing.start()
    wait_for(lambda: ing.connected)
    time.sleep(0.1)  # let the SUBACK land before anyone publishes
    yield receiver, ing
    ing.stop()


def test_mqtt_ingest_acks_and_stores_once(mqtt_receiver, mosquitto, gw):
    receiver, _ = mqtt_receiver
    pub = GatewayMqtt(*mosquitto, gw.gateway_id)
    try:
        b1, b2, b3 = gw.next(), gw.next(), gw.next()
        for env in (b1.envelope(), b2.envelope(), b2.envelope(), b3.envelope()):
            pub.publish(env)
        acks = [pub.ack() for _ in range(4)]
        assert [(a["status"], a["seq"], a["hash"]) for a in acks] == [
            ("accepted", 1, b1.hash), ("accepted", 2, b2.hash),
            ("duplicate", 2, b2.hash), ("accepted", 3, b3.hash),
        ]
        pub.publish(flip_body_byte(gw.make()))
        bad = pub.ack()
        assert (bad["status"], bad["code"], bad["seq"]) == ("rejected", "bad_signature", 4)
        pub.publish(gw.make(seq=6).envelope())
        gap = pub.ack()
        assert (gap["code"], gap["expected_seq"]) == ("out_of_order", 4)
    finally:
        pub.close()
    batches, records = receiver.stored()
    assert [h for h, _, _ in batches] == [b1.hash, b2.hash, b3.hash]
    assert len(records) == 3
    with receiver.rdb.read() as conn:
        assert {r[0] for r in conn.execute("SELECT transport FROM batches")} == {"mqtt"}


def test_batch_on_another_gateways_topic_is_rejected(mqtt_receiver, mosquitto, gw):
    receiver, _ = mqtt_receiver
    intruder = GatewayMqtt(*mosquitto, "gw-2")
    try:
        intruder.publish(gw.next().envelope(), topic=f"{PREFIX}/gw-2/batch")
        ack = intruder.ack()
        assert (ack["status"], ack["code"]) == ("rejected", "gateway_mismatch")
    finally:
        intruder.close()
    assert receiver.stored()[0] == []


def test_dead_broker_does_not_hurt_http(receiver, gw):
    ing = MqttIngest(receiver.rdb, "127.0.0.1", free_port(), prefix=PREFIX)
    ing.start()
    try:
        time.sleep(0.3)
        assert not ing.connected
        assert http("GET", f"{receiver.url}/healthz")[0] == 200
        assert receiver.post(gw.next().envelope())[1]["status"] == "accepted"
    finally:
        ing.stop()

