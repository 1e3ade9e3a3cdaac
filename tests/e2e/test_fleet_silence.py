"""Silence alarm end to end, with real processes: `cloud serve` (its periodic fleet check) and `edgeproof run`.

The gateway process sends health summaries every second; the enterprise's thresholds are set to seconds
(`cloud fleet-settings`), and `cloud serve --fleet-check-every 0.3` raises `gateway_silent` on its own
once the gateway process is stopped, then `gateway_recovered` once a new gateway process is heard. The
fleet list (`cloud gateways --json`) follows: online, silent, online. Waits are for conditions, with
deadlines; nothing sleeps a fixed time.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.identity import enroll, init_identity
from tests.e2e.conftest import PROFILE
from tests.support.processes import ENTERPRISE, ReceiverProc, cloud, free_port, gateway_env, wait_port


class FleetReceiver(ReceiverProc):
    """`cloud serve` with a fast periodic fleet check."""

    def start(self) -> FleetReceiver:
        cmd = [sys.executable, "-m", "cloud_stub", "serve", "--db", str(self.db), "--host", "127.0.0.1",
               "--port", str(self.port), "--fleet-check-every", "0.3"]
        log = open(self.workdir / "receiver.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, 20)
        return self


@pytest.fixture
def fleet_receiver(tmp_path: Path) -> Iterator[FleetReceiver]:
    r = FleetReceiver(tmp_path, free_port()).start()
    yield r
    r.stop()


def until(pred: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def start_gateway(state: Path, profile: Path) -> subprocess.Popen[bytes]:
    log = open(state / "gateway.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--profile", str(profile), "--state",
                             str(state)], stdout=log, stderr=subprocess.STDOUT, env=gateway_env())


def test_a_silent_gateway_raises_an_alert_and_a_recovery(fleet_receiver: FleetReceiver, tmp_path: Path) -> None:
    state = tmp_path / "gw"
    init_identity(state, None, "test-site")
    enroll(state, fleet_receiver.url, fleet_receiver.token())
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE.read_text().replace("[uplink]\n", "[uplink]\nhealth_interval_s = 1.0\n"))
    db = str(fleet_receiver.db)

    def fleet() -> dict[str, Any]:
        (g,) = json.loads(cloud("gateways", "--db", db, "--json"))["gateways"]
        return g

    def alerts() -> list[str]:  # the silence alarm's kinds (this machine's clock may raise clock_unsynced too)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return [r[0] for r in con.execute("SELECT kind FROM alerts WHERE kind LIKE 'gateway_%' ORDER BY id")]
        finally:
            con.close()

    proc = start_gateway(state, profile)
    try:
        g = until(lambda: (g := fleet())["health"] is not None and g["state"] == "online" and g, "a health summary")
        assert g["health"]["devices"]["total"] == 1 and g["health"]["boot"] == 1
        # Seconds, not the defaults' minutes, once it has been heard (a slow start must not read as silence).
        cloud("fleet-settings", "--db", db, "--enterprise", ENTERPRISE, "--late-after", "3", "--silent-after", "8")
        assert alerts() == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    until(lambda: "gateway_silent" in alerts(), "gateway_silent from cloud serve's own check")
    assert fleet()["state"] == "silent"
    proc = start_gateway(state, profile)
    try:
        until(lambda: alerts()[-1:] == ["gateway_recovered"], "gateway_recovered")
        g = until(lambda: (g := fleet())["health"]["boot"] == 2 and g, "the new boot's summary")
        assert g["state"] == "online"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert alerts().count("gateway_silent") == 1 and alerts().count("gateway_recovered") == 1
