"""`edgeproof selftest` against a real Mosquitto that wants a login and enforces an ACL.

The uplink check logs in as the gateway would (same username, password file, client
library), subscribes to its ack topic and reports what the broker said: a TCP connect
alone passed all of these brokers.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_selftest import selftest

from gateway.identity import init_identity
from tests.support.processes import Mosquitto, free_port
from tests.support.services import require_for_module

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
require_for_module(Path(MOSQUITTO_PASSWD).exists(), "mosquitto_passwd", "mosquitto")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    """Logins required; gw-good may read its own ack topic, gw-denied may only publish."""
    work = tmp_path_factory.mktemp("mosquitto")
    pw = work / "passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(pw), "gw-good", "s3cret"], check=True)
    subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), "gw-denied", "s3cret"], check=True)
    acl = work / "acl"
    acl.write_text("user gw-good\ntopic write edgeproof/v1/+/batch\ntopic read edgeproof/v1/+/ack\n"
                   "user gw-denied\ntopic write edgeproof/v1/+/batch\n")
    pw.chmod(0o600)
    acl.chmod(0o600)
    b = Mosquitto(work, free_port(), auth_conf=f"allow_anonymous false\npassword_file {pw}\nacl_file {acl}\n")
    b.start()
    yield b
    b.stop()


def mqtt_profile(tmp: Path, port: int, username: str | None, password: str | None) -> Path:
    login = ""
    if username:
        pw_file = tmp / "mqtt-password"
        pw_file.write_text(f"{password}\n")
        pw_file.chmod(0o600)
        login = f'username = "{username}"\npassword_file = "{pw_file}"\n'
    p = tmp / "profile.toml"
    p.write_text(f'schema_version = 1\n[site]\nid = "selftest"\n[uplink]\ntransport = "mqtt"\n'
                 f'[uplink.mqtt]\nhost = "127.0.0.1"\nport = {port}\n{login}'
                 f'[status]\nbind = "127.0.0.1:8080"\n')
    return p


@pytest.mark.parametrize(("user", "password", "status", "says"), [
    ("gw-good", "s3cret", "ok", "accepted the login as gw-good and the subscription to edgeproof/v1/"),
    ("gw-good", "wrong", "fail", "refused the login as gw-good"),
    (None, None, "fail", "refused the login as anonymous"),
    # Mosquitto's acl_file grants every SUBSCRIBE and filters on delivery, so a gateway that
    # may not read its ack topic still looks fine here (docs/installers.md says so); a broker
    # that refuses the subscription is below.
    ("gw-denied", "s3cret", "ok", "accepted the login as gw-denied"),
])
def test_the_broker_check_logs_in_like_the_uplink(tmp_path: Path, broker: Mosquitto, user, password, status, says):
    state = tmp_path / "gw"
    init_identity(state, "gw-sel", "t")
    _code, checks = selftest(state, mqtt_profile(tmp_path, broker.port, user, password))
    up = checks["uplink"]
    assert up["status"] == status and says in up["detail"], up
    if status == "fail":
        assert up["fix"], up
    assert "s3cret" not in up["detail"] + up["fix"] and "wrong" not in up["detail"] + up["fix"]


def test_nothing_listening_is_unreachable(tmp_path: Path):
    state = tmp_path / "gw"
    init_identity(state, "gw-sel", "t")
    _code, checks = selftest(state, mqtt_profile(tmp_path, free_port(), None, None))
    assert checks["uplink"]["status"] == "fail" and "unreachable" in checks["uplink"]["detail"]


def test_a_port_that_is_not_mqtt_gives_no_answer_in_time(tmp_path: Path):
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    conns: list[socket.socket] = []
    threading.Thread(target=lambda: conns.append(srv.accept()[0]), daemon=True).start()
    state = tmp_path / "gw"
    init_identity(state, "gw-sel", "t")
    try:
        _code, checks = selftest(state, mqtt_profile(tmp_path, srv.getsockname()[1], None, None))
    finally:
        for c in conns:
            c.close()
        srv.close()
    assert checks["uplink"]["status"] == "fail" and "no answer to the MQTT login" in checks["uplink"]["detail"]


def _read_packet(conn) -> tuple[int, bytes]:  # noqa: ANN001
    """One MQTT control packet: (first byte, body); the remaining length is a varint."""
    first = conn.recv(1)
    if not first:
        return 0, b""
    length, shift = 0, 0
    while True:
        b = conn.recv(1)[0]
        length += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    return first[0], body


def test_a_broker_that_refuses_the_ack_subscription_fails_with_the_acl_fix(tmp_path: Path):
    """A broker that answers SUBACK 0x80 (EMQX, HiveMQ and Mosquitto's dynamic-security plugin
    do for a denied subscription), spoken byte for byte on loopback."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    seen: list[int] = []

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            while True:
                kind, body = _read_packet(conn)
                seen.append(kind >> 4)
                if kind >> 4 == 1:  # CONNECT -> CONNACK accepted
                    conn.sendall(bytes([0x20, 0x02, 0x00, 0x00]))
                elif kind >> 4 == 8:  # SUBSCRIBE -> SUBACK failure for its one topic
                    conn.sendall(bytes([0x90, 0x03, body[0], body[1], 0x80]))
                elif kind == 0 or kind >> 4 == 14:  # closed or DISCONNECT
                    return

    threading.Thread(target=serve, daemon=True).start()
    state = tmp_path / "gw"
    init_identity(state, "gw-sel", "t")
    try:
        _code, checks = selftest(state, mqtt_profile(tmp_path, srv.getsockname()[1], None, None))
    finally:
        srv.close()
    up = checks["uplink"]
    assert up["status"] == "fail" and "refused the subscription to edgeproof/v1/gw-sel/ack" in up["detail"], up
    assert "ACL" in up["fix"] and seen[:2] == [1, 8]
