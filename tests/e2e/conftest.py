from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.identity import enroll, init_identity
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
