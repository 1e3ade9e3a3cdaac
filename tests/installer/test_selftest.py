"""`edgeproof selftest` against real state: a real receiver, a real store, real files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from status_helpers import Receiver, enrolled_state

from gateway.store import Store

EDGEPROOF = str(Path(sys.executable).parent / "edgeproof")


def selftest(state: Path, profile: Path | str, *extra: str) -> tuple[int, dict]:
    res = subprocess.run([EDGEPROOF, "selftest", "--state", str(state), "--profile", str(profile), "--json", *extra],
                         capture_output=True, text=True, timeout=120)
    out = json.loads(res.stdout)
    assert out["ok"] == (res.returncode == 0)
    return res.returncode, {c["name"]: c for c in out["checks"]}


def profile_for(url: str, tmp: Path) -> Path:
    p = tmp / "profile.toml"
    p.write_text(f'schema_version = 1\n[site]\nid = "selftest"\n[uplink]\ntransport = "http"\nurl = "{url}"\n'
                 f'[status]\nbind = "127.0.0.1:8080"\n')
    return p


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    r = Receiver(tmp_path_factory.mktemp("receiver"))
    yield r
    r.stop()


def test_blank_state_fails_with_what_to_do(tmp_path, receiver):
    code, checks = selftest(tmp_path / "state", profile_for(receiver.url, tmp_path))
    assert code == 1
    assert checks["key"]["status"] == "fail" and "edgeproof init" in checks["key"]["fix"]
    assert checks["enrollment"]["status"] == "fail"
    assert checks["store"]["status"] == "warn"  # made on the first run


def test_ready_gateway_passes(tmp_path, receiver):
    state = tmp_path / "state"
    enrolled_state(receiver, state, "selftest")
    Store(state / "edgeproof.db").close()
    code, checks = selftest(state, profile_for(receiver.url, tmp_path), "--full")
    assert code == 0, checks
    for name in ("profile", "key", "enrollment", "disk", "store", "uplink", "status page"):
        assert checks[name]["status"] == "ok", checks[name]
    assert "integrity_check ok" in checks["store"]["detail"]
    assert checks["clock"]["status"] in ("ok", "warn")  # a container's clock may not be NTP-synced
    assert "0o600" in checks["key"]["detail"]

    # The table form says the same and exits 0.
    res = subprocess.run([EDGEPROOF, "selftest", "--state", str(state), "--profile",
                          str(tmp_path / "profile.toml")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "selftest passed" in res.stdout and "uplink" in res.stdout

    # A key others can read fails, with the fix.
    os.chmod(state / "gateway.key", 0o644)
    code, checks = selftest(state, tmp_path / "profile.toml")
    assert code == 1 and checks["key"]["status"] == "fail" and "chmod 600" in checks["key"]["fix"]
    os.chmod(state / "gateway.key", 0o600)

    # A receiver that does not answer fails the uplink check.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    code, checks = selftest(state, profile_for(dead, tmp_path))
    assert code == 1 and checks["uplink"]["status"] == "fail" and "unreachable" in checks["uplink"]["detail"]


def test_corrupt_store_fails(tmp_path, receiver):
    state = tmp_path / "state"
    enrolled_state(receiver, state, "selftest")
    store = Store(state / "edgeproof.db", "NORMAL")
    store.add_readings([(float(i), store.point("d", "p", "energy.kwh", "kWh").id, 1.0, "good")
                        for i in range(20000)])
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    db = state / "edgeproof.db"
    data = bytearray(db.read_bytes())
    page = 4096
    for off in range(3 * page, min(len(data), 12 * page), page):  # scribble over b-tree pages
        data[off:off + 64] = b"\xff" * 64
    db.write_bytes(bytes(data))
    code, checks = selftest(state, profile_for(receiver.url, tmp_path), "--full", "--offline")
    assert code == 1 and checks["store"]["status"] == "fail", checks["store"]
    assert "uplink" not in checks


CAMERA = """
[[devices]]
name = "{name}"
driver = "camera"
asset = "{name}"
poll_interval_s = 5.0
{params}
[devices.options]
source = "sim:generated-clip"
model = "motion"
[[devices.options.lines]]
name = "door"
line = [0.5, 0.0, 0.5, 1.0]
"""


def test_a_camera_that_does_not_say_what_it_counts_is_a_warning_with_the_fix(tmp_path, receiver):
    state = tmp_path / "state"
    enrolled_state(receiver, state, "selftest")
    p = profile_for(receiver.url, tmp_path)
    base = p.read_text()
    p.write_text(base + CAMERA.format(name="cam-door", params='params = { role = "dispatch" }'))
    code, checks = selftest(state, p, "--offline")
    assert checks["camera roles"]["status"] == "ok", checks["camera roles"]
    p.write_text(base + CAMERA.format(name="cam-door", params='params = { role = "dispatch" }')
                 + CAMERA.format(name="cam-line-2", params=""))
    code, checks = selftest(state, p, "--offline")
    assert checks["profile"]["status"] == "ok", checks["profile"]
    c = checks["camera roles"]
    assert c["status"] == "warn" and "cam-line-2" in c["detail"] and "cam-door" not in c["detail"]
    assert 'role = "line"' in c["fix"]
    assert code == 0, checks  # a warning fails nothing
