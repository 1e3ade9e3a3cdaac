"""The deployable as it runs for real: ``python -m cloud_stub`` processes, HTTP and MQTT, the bank's CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cloud_helpers import PREFIX, FakeGateway, GatewayMqtt, http

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cloud_stub", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture
def served(tmp_path: Path, mosquitto):
    db = tmp_path / "r.db"
    ready = tmp_path / "ready.json"
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud_stub", "serve", "--db", str(db), "--port", "0",
         "--ready-file", str(ready), "--mqtt", f"{mosquitto[0]}:{mosquitto[1]}",
         "--mqtt-topic-prefix", PREFIX],
        cwd=REPO, stderr=log,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "receiver did not become ready"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["pid"] == proc.pid
        yield db, info["url"], tmp_path / "serve.log"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_cloud_cli_end_to_end(served, mosquitto):
    db, url, log_path = served
    assert http("GET", f"{url}/healthz")[0] == 200
    key_file = Path(f"{db}.receiver.key")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

    tok = json.loads(cli("token", "--db", str(db), "--enterprise", "ent-1", "--json").stdout)
    assert set(tok) == {"enterprise_id", "token", "expires"}
    plain_token = cli("token", "--db", str(db), "--enterprise", "ent-1").stdout.strip()
    bank_token = cli("bank", "add", "--db", str(db), "--name", "bank-1", "--enterprise", "ent-1").stdout
    bank_token = bank_token.strip()

    a, b = FakeGateway("gw-a", "ent-1"), FakeGateway("gw-b", "ent-1")
    assert http("POST", f"{url}/v1/enroll", a.enroll_request(tok["token"]))[0] == 200
    assert http("POST", f"{url}/v1/enroll", b.enroll_request(plain_token))[0] == 200

    for _ in range(3):  # gw-a over HTTP
        assert http("POST", f"{url}/v1/batches", a.next().envelope())[1]["status"] == "accepted"
    pub = GatewayMqtt(*mosquitto, "gw-b")  # gw-b over MQTT
    try:
        for _ in range(3):
            pub.publish(b.next().envelope())
            assert pub.ack()["status"] == "accepted"
    finally:
        pub.close()
    http("POST", f"{url}/v1/batches", a.make(seq=9).envelope())  # a gap -> a finding

    out = cli("feed", "verify", "--url", url, "--enterprise", "ent-1", "--token", bank_token, "--json")
    summary = json.loads(out.stdout)
    assert (summary["records"], summary["verified"], summary["failed"]) == (6, 6, 0)
    assert summary["gateways"] == ["gw-a", "gw-b"]
    bad = cli("feed", "verify", "--url", url, "--enterprise", "ent-1", "--token", "x", check=False)
    assert bad.returncode == 1

    found = json.loads(cli("findings", "--db", str(db), "--json").stdout)
    assert [f["kind"] for f in found] == ["gap_observed"]

    cli("revoke-key", "--db", str(db), "--kid", a.kid)
    status, res = http("POST", f"{url}/v1/batches", a.next().envelope())
    assert (status, res["code"]) == (403, "revoked_key")

    log = log_path.read_text()
    for secret in (tok["token"], plain_token, bank_token):
        assert secret not in log
    assert all(json.loads(line) for line in log.splitlines() if line.strip())
