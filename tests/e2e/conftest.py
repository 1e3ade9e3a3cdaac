from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from gateway.identity import enroll, init_identity
from gateway.profile import load_profile
from gateway.profile.schema import Profile
from tests.support.processes import Mosquitto, ReceiverProc, free_port

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "one-meter.toml"


@pytest.fixture
def receiver_proc(tmp_path: Path) -> Iterator[ReceiverProc]:
    r = ReceiverProc(tmp_path, free_port()).start()
    yield r
    r.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    m = Mosquitto(tmp_path, free_port()).start()
    yield m
    m.stop()


@pytest.fixture
def enrolled_state(tmp_path: Path, receiver_proc: ReceiverProc) -> Path:
    state = tmp_path / "gw"
    init_identity(state, None, "test-site")
    enroll(state, receiver_proc.url, receiver_proc.token())
    return state


def mqtt_receiver_and_gateway(tmp_path: Path, broker: Mosquitto, **uplink: object
                              ) -> tuple[ReceiverProc, Path, Profile]:
    """A receiver ingesting from the broker, an enrolled gateway state, and the test profile
    sending over MQTT to that broker (``uplink`` overrides other uplink settings)."""
    receiver = ReceiverProc(tmp_path, free_port(), mqtt=f"127.0.0.1:{broker.port}").start()
    state = tmp_path / "gw"
    init_identity(state, None, "t")
    enroll(state, receiver.url, receiver.token())
    prof = load_profile(PROFILE)
    prof = msgspec.structs.replace(prof, uplink=msgspec.structs.replace(
        prof.uplink, transport="mqtt", mqtt=msgspec.structs.replace(prof.uplink.mqtt, port=broker.port), **uplink))
    return receiver, state, prof
