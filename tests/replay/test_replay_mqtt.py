"""`edgeproof replay` over the profile's MQTT uplink: real Mosquitto, the receiver's MQTT
ingest, the real CLI in its own process. An onboarding site whose receiver is reached over
MQTT replays through the same transport its live gateway uses, and a broker that goes away
mid-replay loses nothing: batches wait in the outbox and the same command sends them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_stub.mqtt_ingest import MqttIngest
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from tests.replay.replay_helpers import ROOT, LiveReceiver, edgeproof, replay_identity, start_receiver
from tests.support.processes import MOSQUITTO, Mosquitto, free_port
from tests.support.services import require_for_module

require_for_module(Path(MOSQUITTO).exists(), "mosquitto", "mosquitto")
PROFILE = ROOT / "hardware_profiles" / "sim-history.toml"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[LiveReceiver, Mosquitto, MqttIngest, Path]]:
    """A receiver ingesting from a private Mosquitto, and sim-history with its uplink on MQTT."""
    broker = Mosquitto(tmp_path, free_port()).start()
    receiver = start_receiver(tmp_path / "receiver")
    ingest = MqttIngest(receiver.rdb, "127.0.0.1", broker.port)
    ingest.start()
    deadline = time.monotonic() + 20
    while not ingest.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the SUBACK before anyone publishes
    text = PROFILE.read_text()
    text, n = re.subn(r'(?m)^transport = "http"$', 'transport = "mqtt"\ntimeout_s = 5', text, count=1)
    assert n == 1
    text += f'\n[uplink.mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
    profile = tmp_path / "sim-history-mqtt.toml"
    profile.write_text(text)
    try:
        yield receiver, broker, ingest, profile
    finally:
        ingest.stop()
        receiver.stop()
        broker.stop()


def history(receiver: LiveReceiver, profile: Path, tmp_path: Path, days: int, seed: int, enterprise: str,
            gateway: str) -> tuple[Path, Path]:
    """Generated honest history and an enrolled replay identity for it: (data, state)."""
    data, state = tmp_path / "data", tmp_path / "history"
    write_scenario(ScenarioConfig(scenario="honest", days=days, seed=seed, interval_s=900), data)
    replay_identity(receiver, state, enterprise, gateway, profile=str(profile))
    return data, state


def replay_cmd(profile: Path, data: Path, state: Path) -> list[str]:
    # No --receiver: the profile's uplink (MQTT) is used, as on the site.
    return ["replay", "--profile", str(profile), "--data", str(data), "--state", str(state), "--pack-every", "6h"]


def test_a_replay_over_mqtt_is_acknowledged_batch_by_batch(site, tmp_path) -> None:
    receiver, _, _, profile = site
    data, state = history(receiver, profile, tmp_path, 2, 4, "ent-mqtt", "mqtt-history")
    out = json.loads(edgeproof(*replay_cmd(profile, data, state)).stdout)
    assert out["destination"] == f"mqtt:127.0.0.1:{site[1].port}"
    assert out["batches"] == out["accepted"] > 0 and out["duplicates"] == 0
    batches = receiver.batches("mqtt-history")
    assert [b["seq"] for b in batches] == list(range(1, out["batches"] + 1))
    assert all(b["_replayed"] == 1 and b["replay"] == out["replay"] for b in batches)
    with receiver.rdb.read() as conn:
        assert {r[0] for r in conn.execute("SELECT transport FROM batches WHERE gateway_id = 'mqtt-history'")} \
            == {"mqtt"}


def test_a_broker_gone_mid_replay_loses_nothing_and_the_replay_completes_when_it_is_back(site, tmp_path) -> None:
    receiver, broker, _, profile = site
    data, state = history(receiver, profile, tmp_path, 3, 5, "ent-mqtt-down", "mqtt-down-history")
    # Paced (three days in ~12 s) so the broker can be away while batches are still made.
    cmd = [sys.executable, "-m", "gateway.cli", *replay_cmd(profile, data, state), "--speed", "22000"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not receiver.batches("mqtt-down-history") and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    broker.stop()  # the broker goes away for a few seconds of real time (many simulated hours)
    time.sleep(4)
    during = len(receiver.batches("mqtt-down-history"))
    broker.start()
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-2000:]
    assert "uplink failed; batches wait in the outbox" in err
    summary = json.loads(out)
    assert summary["batches"] > during > 0 and summary["resent_only"] is False
    # A batch the receiver stored as the broker died loses only its ack: sent again, it is
    # acknowledged as a duplicate, never stored twice.
    assert summary["accepted"] + summary["duplicates"] == summary["batches"]
    batches = receiver.batches("mqtt-down-history")
    assert [b["seq"] for b in batches] == list(range(1, summary["batches"] + 1))
