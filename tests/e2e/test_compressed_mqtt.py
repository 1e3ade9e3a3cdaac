"""Compressed compact batches over a real Mosquitto: negotiated through the receiver's capabilities,
published on ``<batch topic>/zstd``, decoded by the receiver to the exact signed bytes, and verified
end to end by the bank (`feed verify`). A corrupt compressed payload on that topic gets a
``bad_encoding`` verdict on the ack topic and stores nothing.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from gateway.wire import compress as wire_compress
from tests.e2e.conftest import mqtt_receiver_and_gateway
from tests.e2e.test_chain_http_mqtt import check_feed, run_gateway
from tests.support.processes import Mosquitto


def test_compressed_batches_over_mqtt_verify_end_to_end(tmp_path: Path, broker: Mosquitto) -> None:
    receiver, state, prof = mqtt_receiver_and_gateway(tmp_path, broker, compression="auto")
    try:
        gw = run_gateway(prof, state, 5)
        assert gw.sender.transport.compact is True  # asked the receiver, and it said yes
        check_feed(receiver, gw)  # every batch accepted, every record verified by the bank
        # A corrupt payload on the compressed topic: a clear verdict, nothing stored.
        got: list[dict] = []
        done = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-bad")
        c.on_message = lambda _c, _u, m: (got.append(json.loads(m.payload)), done.set())
        c.connect("127.0.0.1", broker.port)
        c.subscribe("edgeproof/v1/gw-bad/ack", qos=1)
        c.loop_start()
        try:
            c.publish("edgeproof/v1/gw-bad/batch/zstd", b"\x28\xb5\x2f\xfd garbage", qos=1).wait_for_publish(5)
            assert done.wait(10), "no verdict for the corrupt payload"
        finally:
            c.loop_stop()
            c.disconnect()
        assert got[0]["status"] == "rejected" and got[0]["code"] == "bad_encoding", got
        import sqlite3

        con = sqlite3.connect(f"file:{receiver.db}?mode=ro", uri=True)
        try:
            assert con.execute("SELECT COUNT(*) FROM batches WHERE gateway_id = 'gw-bad'").fetchone()[0] == 0
        finally:
            con.close()
    finally:
        receiver.stop()
    assert wire_compress.MQTT_SUFFIX == "/zstd"
