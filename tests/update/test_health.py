"""The health check against the project's real `edgeproof selftest` (this checkout's, as the new
version would run it) and a real receiver's acknowledgement."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from update_site import send_one_batch

from gateway.store import Store
from gateway.update import health

VENV = Path(sys.executable).parent.parent  # the environment whose bin/edgeproof is this checkout


def _profile(url: str, tmp: Path) -> Path:
    p = tmp / "profile.toml"
    p.write_text(f'schema_version = 1\n[site]\nid = "upd"\n[uplink]\ntransport = "http"\nurl = "{url}"\n'
                 f'[status]\nbind = "127.0.0.1:8080"\n')
    return p


def test_real_selftest_and_a_real_ack(enrolled_gateway, tmp_path: Path) -> None:
    state, url = enrolled_gateway
    Store(state / "edgeproof.db").close()
    since = time.time()
    t = threading.Thread(target=send_one_batch, args=(state, url))
    t.start()
    h = health.check(VENV, state, since=since, ack_deadline_s=30,
                     selftest_args=("--profile", str(_profile(url, tmp_path))))
    t.join(30)
    assert h == health.Health(True, "selftest passed; a batch was acknowledged"), h
    assert health.last_ack_time(state) >= since


def test_real_selftest_failure_is_the_reason(enrolled_gateway, tmp_path: Path) -> None:
    state, url = enrolled_gateway
    os.chmod(state / "gateway.key", 0o644)
    h = health.check(VENV, state, since=time.time(), ack_deadline_s=1,
                     selftest_args=("--profile", str(_profile(url, tmp_path))))
    assert not h.ok and h.reason.startswith(f"selftest of {VENV.name} failed (exit 1)")


def test_an_ack_from_before_the_switch_does_not_count(enrolled_gateway, tmp_path: Path) -> None:
    state, url = enrolled_gateway
    send_one_batch(state, url)
    before = health.last_ack_time(state)
    assert before is not None
    h = health.check(VENV, state, since=before + 0.001, ack_deadline_s=0.3,
                     selftest_args=("--profile", str(_profile(url, tmp_path))))
    assert h == health.Health(False, "no batch acknowledged within 0.3 s of the switch")
