"""Real processes for end-to-end tests: the receiver, Mosquitto, the gateway. Loopback only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
ENTERPRISE = "ent-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def cloud(*args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "cloud_stub", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@dataclass
class ReceiverProc:
    workdir: Path
    port: int
    mqtt: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db(self) -> Path:
        return self.workdir / "receiver.db"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ReceiverProc:
        cmd = [sys.executable, "-m", "cloud_stub", "serve", "--db", str(self.db), "--host", "127.0.0.1",
               "--port", str(self.port)]
        if self.mqtt:
            cmd += ["--mqtt", self.mqtt]
        log = open(self.workdir / "receiver.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, 20)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def token(self, enterprise: str = ENTERPRISE) -> str:
        return cloud("token", "--db", str(self.db), "--enterprise", enterprise)

    def bank_token(self, enterprise: str = ENTERPRISE, name: str = "bank-test") -> str:
        return cloud("bank", "add", "--db", str(self.db), "--name", name, "--enterprise", enterprise)

    def feed(self, bank_token: str, enterprise: str = ENTERPRISE) -> list[dict[str, Any]]:
        """Every record of the enterprise's feed, following cursors."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            url = f"{self.url}/v1/feed/{enterprise}/records?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {bank_token}"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                page = json.loads(resp.read())
            out.extend(page["records"])
            cursor = page.get("next_cursor")
            if not cursor or not page["records"]:
                return out

    def verify(self, bank_token: str, enterprise: str = ENTERPRISE) -> dict[str, Any]:
        res = subprocess.run([sys.executable, "-m", "cloud_stub", "feed", "verify", "--url", self.url,
                              "--enterprise", enterprise, "--token", bank_token, "--json"],
                             capture_output=True, text=True, timeout=120)
        return json.loads(res.stdout)


@dataclass
class Mosquitto:
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    # Replaces "allow_anonymous true": e.g. a password_file and an acl_file for login tests.
    auth_conf: str | None = None

    def start(self) -> Mosquitto:
        conf = self.workdir / "mosquitto.conf"
        auth = self.auth_conf if self.auth_conf is not None else "allow_anonymous true\n"
        conf.write_text(f"listener {self.port} 127.0.0.1\n{auth}user root\npersistence false\n")
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def gateway_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env
